package v1

import (
	"net/http"

	"legacyauth/core"
)

// deleteAccount serves DELETE /v1/users/me: the session's owner deletes
// the account, proving itself again with its password or a code sent for
// the "delete" purpose. Everything of the account goes: user, sessions,
// avatar, pending codes and flows.
func (a *API) deleteAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	token, u, _, err := a.authenticate(r, c)
	if err != nil {
		return err
	}
	var req struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if (req.Password == "") == (req.Code == "") {
		return invalid("send either password or code")
	}
	if err := a.svc.DeleteAccount(r.Context(), core.DeleteAccountRequest{Token: token, Password: req.Password, Code: req.Code}); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "account deleted", "user_id", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
