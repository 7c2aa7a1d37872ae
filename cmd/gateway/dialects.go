package main

import (
	"log/slog"
	"strconv"

	"legacyauth/core"
	"legacyauth/dialects/apiv4"
	"legacyauth/dialects/caraccessories"
	"legacyauth/dialects/resultcode"
	"legacyauth/gateway"
)

// dialectKind is one legacy contract the binary can serve. dialectKinds is
// the one list of them: settings, validation, mounting and migration all
// read it, so adding a dialect is one entry here plus its package.
type dialectKind struct {
	name         string // the package's Name
	prefix       string // default mount: the package's DefaultPrefix
	codeLength   int    // default code digits: the package's DefaultCodeLength
	codeNote     string // why that length, for --help
	modesExample string // per-operation modes, for --help
	switches     []dialectSwitch
	// mount builds the dialect for its settings; log is for start-up
	// warnings about them.
	mount func(svc *core.Service, d *DialectConfig, log *slog.Logger) gateway.Dialect
}

// dialectSwitch is a dialect's own on/off setting:
// --<dialect>-<name>, GATEWAY_<DIALECT>_<NAME>.
type dialectSwitch struct{ name, help string }

var dialectKinds = []dialectKind{
	{
		name: caraccessories.Name, prefix: caraccessories.DefaultPrefix, codeLength: caraccessories.DefaultCodeLength,
		codeNote: "the document's example has " + strconv.Itoa(caraccessories.DefaultCodeLength), modesExample: "login=shadow,registration=proxy",
		mount: func(svc *core.Service, d *DialectConfig, _ *slog.Logger) gateway.Dialect {
			return caraccessories.New(svc, caraccessories.Options{CodeLength: d.CodeLength})
		},
	},
	{
		name: apiv4.Name, prefix: apiv4.DefaultPrefix, codeLength: apiv4.DefaultCodeLength,
		codeNote: "the document shows none", modesExample: "login=shadow,register=proxy",
		switches: []dialectSwitch{{"verify-code-post", "also accept POST on apiv4's /verify_code (documented as GET only)"}},
		mount: func(svc *core.Service, d *DialectConfig, _ *slog.Logger) gateway.Dialect {
			return apiv4.New(svc, apiv4.Options{CodeLength: d.CodeLength, VerifyCodePOST: d.Switches["verify-code-post"]})
		},
	},
	{
		name: resultcode.Name, prefix: resultcode.DefaultPrefix, codeLength: resultcode.DefaultCodeLength,
		codeNote: "the document says " + strconv.Itoa(resultcode.DefaultCodeLength), modesExample: "login=shadow,register=proxy",
		switches: []dialectSwitch{{"echo-code", "echo the sent code in resultcode's reply as the old server did (insecure; warned at start-up)"}},
		mount: func(svc *core.Service, d *DialectConfig, log *slog.Logger) gateway.Dialect {
			if d.Switches["echo-code"] {
				log.Warn("GATEWAY_RESULTCODE_ECHO_CODE is on: resultcode replies carry the SMS code, so anyone can register any phone with the apps that compare it locally")
			}
			return resultcode.New(svc, resultcode.Options{CodeLength: d.CodeLength, EchoCode: d.Switches["echo-code"]})
		},
	},
}
