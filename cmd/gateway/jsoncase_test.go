package main

import "testing"

// JSON keys that differ only in case name one field to encoding/json
// (which matches names under case folding, "ſ" and "K" included), so
// {"phone":A,"Phone":B} would bind B where the gateway read A. They are
// refused as a key repeated with another value is, with each dialect's
// own invalid-input reply, and nothing is stored or sent (badMatrix checks
// the phone, the SMS sender and the data directory).

func TestCaseFoldedJSONKeys_caraccessories(t *testing.T) {
	const p = "/caraccessories/app"
	js := func(s string) []byte { return []byte(s) }
	badMatrix(t, shapeCaraccessories, []badCase{
		{name: "mobile and Mobile", method: "POST", target: p + "/get_verification_code", ctype: "application/json",
			body: js(`{"mobile": "13900009101", "Mobile": "13900009102"}`), status: 400, code: -1, phone: "13900009101"},
		{name: "password and PASSWORD", method: "POST", target: p + "/registration", ctype: "application/json",
			body: js(`{"mobile": "13900009103", "code": "12345", "password": "pw", "PASSWORD": "other"}`), status: 400, code: -1, phone: "13900009103"},
	})
}

func TestCaseFoldedJSONKeys_apiv4(t *testing.T) {
	const p = "/api/v4.0"
	js := func(s string) []byte { return []byte(s) }
	badMatrix(t, shapeAPIv4, []badCase{
		{name: "phone and PHONE", method: "POST", target: p + "/register", ctype: "application/json",
			body:   js(`{"phone": "13900009201", "name": "Ann", "password": "abc12345", "device_identifier": "d", "code": "123456", "PHONE": "13900009202"}`),
			status: 400, code: -3, phone: "13900009201"},
	})
}

func TestCaseFoldedJSONKeys_v1(t *testing.T) {
	const jt = "application/json"
	js := func(s string) []byte { return []byte(s) }
	badMatrix(t, shapeV1, []badCase{
		{name: "phone and Phone", method: "POST", target: "/v1/codes", ctype: jt,
			body: js(`{"phone": "13900009301", "purpose": "register", "Phone": "13900009302"}`), status: 400, code: "invalid", phone: "13900009301"},
		{name: "phone and PHONE", method: "POST", target: "/v1/phones/lookup", ctype: jt,
			body: js(`{"phone": "13900009303", "PHONE": "13900009304"}`), status: 400, code: "invalid", phone: "13900009303"},
		{name: "password and pasſword (long s)", method: "POST", target: "/v1/sessions", ctype: jt,
			body: js(`{"phone": "13900009305", "password": "abc12345", "pasſword": "abc12346"}`), status: 400, code: "invalid", phone: "13900009305"},
	})
}
