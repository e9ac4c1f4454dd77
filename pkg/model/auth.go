package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// defaultRealm is ingress-nginx's auth-realm default.
const defaultRealm = "Authentication Required"

// basicAuth resolves auth-secret into an htpasswd file. Only Secrets of the
// Ingress's own namespace are read: a reference elsewhere would let an
// Ingress author use credentials they cannot read. Any problem fails closed
// (503) with a finding, never open.
func (b *builder) basicAuth(ing *networkingv1.Ingress, a annotations.Auth) (*BasicAuth, bool) {
	ref := ingressRef(ing)
	name, own := ownNamespaceName(ing, a.Secret)
	if !own {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-secret %q is in another namespace; only Secrets of namespace %s are used; requests get 503",
			excerpt.Of(a.Secret), ing.Namespace)
		return nil, true
	}
	if name == "" {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-type basic needs auth-secret; requests get 503")
		return nil, true
	}
	secret, ok := b.secret(key(ing.Namespace, name))
	if !ok {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-secret %s/%s not found; requests get 503", ing.Namespace, name)
		return nil, true
	}
	var content []byte
	var err error
	if a.SecretType == "auth-map" {
		content, err = htpasswdFromMap(secret.Data)
	} else {
		content, err = htpasswdFromFile(secret.Data["auth"])
	}
	if err != nil {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-secret %s/%s: %v; requests get 503", ing.Namespace, name, err)
		return nil, true
	}
	sum := sha256.Sum256(append([]byte(ing.Namespace+"/"+name+"\n"), content...))
	p := path.Join(b.opts.AuthDir, hex.EncodeToString(sum[:10])+".htpasswd")
	b.authFiles[p] = SecretFile{Path: p, Content: content}
	realm := a.Realm
	if realm == "" {
		realm = defaultRealm
	}
	return &BasicAuth{Realm: realm, File: p}, false
}

// htpasswdFromFile checks "user:hash" lines (key "auth" of an auth-file
// Secret) and returns them normalised; comments and blank lines go.
func htpasswdFromFile(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errors.New(`key "auth" is missing or empty`)
	}
	var out bytes.Buffer
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || !validUser(user) || !validHash(hash) {
			return nil, fmt.Errorf("line %d is not user:hash", i+1)
		}
		out.WriteString(user + ":" + hash + "\n")
	}
	if out.Len() == 0 {
		return nil, errors.New("lists no user")
	}
	return out.Bytes(), nil
}

// htpasswdFromMap builds htpasswd lines from an auth-map Secret (user: hash).
func htpasswdFromMap(data map[string][]byte) ([]byte, error) {
	users := make([]string, 0, len(data))
	for u := range data {
		users = append(users, u)
	}
	slices.Sort(users)
	var out bytes.Buffer
	for _, u := range users {
		hash := strings.TrimSpace(string(data[u]))
		if !validUser(u) || !validHash(hash) {
			return nil, fmt.Errorf("entry %q is not a user with a password hash", excerpt.Of(u))
		}
		out.WriteString(u + ":" + hash + "\n")
	}
	if out.Len() == 0 {
		return nil, errors.New("lists no user")
	}
	return out.Bytes(), nil
}

func validUser(u string) bool {
	if u == "" || len(u) > 255 {
		return false
	}
	for _, r := range u {
		if r <= ' ' || r == ':' || r == 0x7f {
			return false
		}
	}
	return true
}

func validHash(h string) bool {
	if h == "" || len(h) > 1024 {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
