// Package jwtkeys reads RSA keys from PEM for the JWT bearer tokens of
// service-to-service calls: public keys as the server registers them, private
// keys (PKCS#1 or PKCS#8) as `jwt sign` uses them. Shared so both sides apply
// the same rules.
package jwtkeys

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// MinBits is the smallest RSA modulus accepted.
const MinBits = 2048

// ParsePublic reads one RSA public key ("PUBLIC KEY" PKIX or "RSA PUBLIC
// KEY" PKCS#1) of at least MinBits.
func ParsePublic(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM public key")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("malformed public key: %v", err)
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("only RSA public keys are accepted (RS256)")
	}
	if rk.N.BitLen() < MinBits {
		return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", rk.N.BitLen(), MinBits)
	}
	return rk, nil
}

// ParsePrivate reads an RSA private key in PKCS#1 or PKCS#8 PEM.
func ParsePrivate(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("malformed PKCS#1 private key")
		}
		return checkBits(k)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("malformed PKCS#8 private key")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("only RSA private keys can sign RS256 tokens")
		}
		return checkBits(rk)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted private keys are not supported: decrypt it first (openssl pkey -in KEY -out PLAIN)")
	}
	return nil, fmt.Errorf("a PEM block of type %q is not a private key", block.Type)
}

func checkBits(k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if k.N.BitLen() < MinBits {
		return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", k.N.BitLen(), MinBits)
	}
	return k, nil
}

// Fingerprint is the SHA-256 of the key's PKIX DER, as "SHA256:base64".
func Fingerprint(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	h := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}
