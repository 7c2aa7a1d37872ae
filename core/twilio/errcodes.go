package twilio

import "legacyauth/core"

// codeInfo is what the gateway does with one Twilio error code.
type codeInfo struct {
	Kind core.Kind
	Desc string // our own short text: Twilio's message may quote the phone
}

// errorCodes maps the Programmable Messaging error codes a send can meet
// (https://www.twilio.com/docs/api/errors/<code>) to the kind the failover
// acts on:
//   - Invalid: the recipient number itself cannot or must not get the code
//     (bad format, landline, premium rate, opted out, a destination the
//     operator blocked), so another provider must not be tried either;
//   - RateLimited: only 14107, Twilio's own limit on messages between this
//     sender and this one recipient (30 in 30 s): the number's own limit,
//     so the user waits instead of another provider being spent on it;
//   - SMSFailed: everything about our account, sender, body or Twilio
//     itself, including the account-wide limits (20429 API concurrency,
//     63038 daily cap, 63017, 21611 sender queue): the recipient is not at
//     fault, so the next provider is tried.
//
// Codes not listed here, and any 5xx reply, are SMSFailed.
var errorCodes = map[int]codeInfo{
	// The recipient number.
	21211: {core.Invalid, "the To number is not a valid phone number"},
	21265: {core.Invalid, "the To number is a short code"},
	21266: {core.Invalid, "the To number is the sender's own number"},
	21268: {core.Invalid, "the To number is a premium-rate or information-service number"},
	// Twilio's geographic permissions refuse the destination: the operator
	// chose not to pay for SMS there, so no other provider should either
	// (the gateway's country allowlist normally refuses first).
	21408: {core.Invalid, "sending to this region is not enabled on the Twilio account"},
	21610: {core.Invalid, "the recipient has unsubscribed (replied STOP) from this sender"},
	21614: {core.Invalid, "the To number is not a mobile number"},
	21635: {core.Invalid, "the To number is a landline"},

	// The number's own send limit.
	14107: {core.RateLimited, "too many messages between the sender and this number (30 in 30 seconds)"},

	// Credentials and account.
	20003: {core.SMSFailed, "authentication failed (account SID or auth token)"},
	20429: {core.SMSFailed, "too many concurrent API requests from the account"},
	21608: {core.SMSFailed, "trial account: the To number is not verified on the account"},
	30002: {core.SMSFailed, "the account is suspended"},
	63017: {core.SMSFailed, "the account exceeded its message rate"},
	63038: {core.SMSFailed, "the account exceeded its daily message limit"},

	// The sender.
	21212: {core.SMSFailed, "the From number is not valid"},
	21601: {core.SMSFailed, "the From number is not an SMS-capable number of the account"},
	21606: {core.SMSFailed, "the From number is not a message-capable Twilio number for this destination"},
	21611: {core.SMSFailed, "the From number's message queue is full"},
	21612: {core.SMSFailed, "Twilio cannot connect this From and To combination"},
	21659: {core.SMSFailed, "the From number is not a Twilio number, or a short code of another country"},
	21660: {core.SMSFailed, "the From number does not belong to the account"},

	// The body.
	21602: {core.SMSFailed, "the message body is empty"},
	21617: {core.SMSFailed, "the message body is longer than 1600 characters"},
	30007: {core.SMSFailed, "the carrier filtered the message"},
}

// kindOf returns what a Twilio error reply means for the failover. A 5xx is
// Twilio's own failure whatever its code says.
func kindOf(code, httpStatus int) (core.Kind, string) {
	if httpStatus >= 500 {
		return core.SMSFailed, "Twilio answered a server error"
	}
	if ci, ok := errorCodes[code]; ok {
		return ci.Kind, ci.Desc
	}
	return core.SMSFailed, "unlisted Twilio error"
}
