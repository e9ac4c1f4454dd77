package annotations

import (
	"errors"
	"regexp"
	"strings"
)

// Auth is HTTP basic authentication from a Secret.
type Auth struct {
	// Type is "basic" when set.
	Type string `json:"type,omitempty"`
	// Secret names the Secret in the Ingress's namespace ("name" or "namespace/name").
	Secret string `json:"secret,omitempty"`
	// SecretType is "auth-file" (key "auth", htpasswd lines) or "auth-map" (user: hash keys).
	SecretType string `json:"secretType,omitempty"`
	// Realm is shown by browsers in the login prompt.
	Realm string `json:"realm,omitempty"`
}

// realmValue allowlists a realm: printable text without quotes, backslash or $.
var realmValue = regexp.MustCompile(`^[A-Za-z0-9 .,:;!?()@#%&*+=/_-]{1,128}$`)

func authFields() []Field {
	return inGroup("auth", []Field{
		{Key: "auth-type", Default: "", Allowed: "basic", Risk: RiskMedium,
			Doc: "require HTTP basic authentication (digest is not supported)",
			apply: func(v string, s *Set) error {
				if strings.ToLower(v) != "basic" {
					return errors.New("is not basic (digest is not supported)")
				}
				s.Auth.Type = "basic"
				return nil
			}},
		{Key: "auth-secret", Default: "", Allowed: "a Secret name in the Ingress's namespace (or namespace/name of the same namespace)", Risk: RiskMedium,
			Doc: "the Secret with the users and password hashes",
			apply: func(v string, s *Set) error {
				if err := checkObjectRef(v, "Secret"); err != nil {
					return err
				}
				s.Auth.Secret = v
				return nil
			}},
		{Key: "auth-secret-type", Default: "auth-file", Allowed: "auth-file, auth-map", Risk: RiskLow,
			Doc: "auth-file: key auth holds htpasswd lines; auth-map: each key is a user, its value the hash",
			apply: func(v string, s *Set) error {
				if v != "auth-file" && v != "auth-map" {
					return errors.New("is not auth-file or auth-map")
				}
				s.Auth.SecretType = v
				return nil
			}},
		{Key: "auth-realm", Default: "Authentication Required", Allowed: "1 to 128 printable characters without quotes, \\ or $", Risk: RiskLow,
			Doc: "text shown in the browser's login prompt",
			apply: func(v string, s *Set) error {
				if !realmValue.MatchString(v) {
					return errors.New("is not 1 to 128 printable characters without quotes, \\ or $")
				}
				s.Auth.Realm = v
				return nil
			}},
	})
}
