package testbed

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// serviceAccountIssuer is the API server's service-account token issuer,
// and so the audience its tokens are for.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// TokenClaims are what a signed service-account token says.
type TokenClaims struct {
	Namespace, ServiceAccount, UID string
	// NotBefore and Expires bound the token's life; a token whose Expires
	// has passed is one the API server refuses as expired.
	NotBefore, Expires time.Time
}

// SignServiceAccountToken signs a service-account token with the API
// server's own signing key, as its TokenRequest API would, but for any
// lifetime, an expired one included (TokenRequest gives none shorter than
// ten minutes).
func (c *Cluster) SignServiceAccountToken(claims TokenClaims) (string, error) {
	key, err := readECKey(c.pki.saKey)
	if err != nil {
		return "", err
	}
	header := map[string]string{"alg": "ES256", "typ": "JWT"}
	body := map[string]any{
		"iss": serviceAccountIssuer, "aud": []string{serviceAccountIssuer},
		"sub": "system:serviceaccount:" + claims.Namespace + ":" + claims.ServiceAccount,
		"iat": claims.NotBefore.Unix(), "nbf": claims.NotBefore.Unix(), "exp": claims.Expires.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      claims.Namespace,
			"serviceaccount": map[string]string{"name": claims.ServiceAccount, "uid": claims.UID},
		},
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(b)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	sig := make([]byte, 64) // ES256: r and s, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

func readECKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read service-account key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("service-account key: no PEM block")
	}
	return x509.ParseECPrivateKey(block.Bytes)
}
