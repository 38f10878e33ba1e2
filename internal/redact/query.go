package redact

import (
	"net/url"
	"slices"
	"strings"
)

// secretParamWords are the parts of a query parameter's name that mark its value as a
// credential: api_key, access_token, client_secret, X-Amz-Signature, sig, password, auth,
// session_id, and their kin.
var secretParamWords = []string{"key", "token", "secret", "sig", "pass", "auth", "cred", "session"}

// IsSecretParam reports whether a URL query parameter of this name, in any case, carries
// a credential by its name.
func IsSecretParam(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretParamWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// URLSecrets returns the credentials that an http, https or s3 URL carries, as written
// and decoded: the password or token of its user info, and the values of its query
// parameters that [IsSecretParam] names. They are for scrubbing text that may repeat
// them, such as a server's error body; [URL] already hides them in the URL itself.
// Values shorter than 4 bytes are left out, since hiding them would hide ordinary text.
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	add := func(v string) {
		for _, s := range []string{v, url.PathEscape(v), url.QueryEscape(v)} {
			if len(s) >= 4 && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		} else {
			add(u.User.Username())
		}
	}
	for name, vs := range u.Query() {
		if IsSecretParam(name) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}
