package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki writes a CA, and certificates it signs, as PEM files in dir.
type pki struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, dir, name string) *pki {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: dir, cert: c, key: k}
	p.write(name+".pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue writes NAME.pem and NAME-key.pem: a server certificate for 127.0.0.1
// or a client certificate.
func (p *pki) issue(name string, server bool) (string, string) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &k.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	return p.write(name+".pem", "CERTIFICATE", der), p.write(name+"-key.pem", "PRIVATE KEY", kder)
}

// TestMutualTLS runs `server --tls-cert --tls-key --client-ca` on loopback
// and the CLI against it with and without the right client certificate.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, dir, "ca")
	other := newCA(t, dir, "other-ca")
	srvCert, srvKey := ca.issue("server", true)
	cliCert, cliKey := ca.issue("client", false)
	badCert, badKey := other.issue("intruder", false)
	caFile := filepath.Join(dir, "ca.pem")

	srv := cli(t, []string{"CODESYNC_CONFIG_DIR=" + t.TempDir()}, "server", "--dev", "--addr", "127.0.0.1:0",
		"--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", caFile)
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Signal(os.Interrupt); srv.Wait() })
	vars := map[string]string{}
	sc := bufio.NewScanner(out)
	for len(vars) < 4 && sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			vars[k] = v
		}
	}
	if !strings.HasPrefix(vars["CODESYNC_SERVER"], "https://127.0.0.1:") {
		t.Fatalf("server did not start with TLS: %v", vars)
	}
	env := []string{"CODESYNC_SERVER=" + vars["CODESYNC_SERVER"], "CODESYNC_AUTH_TOKEN=" + vars["CODESYNC_AUTH_TOKEN"], "CODESYNC_CONFIG_DIR=" + t.TempDir()}

	// the right client certificate and the private CA: works
	if o, se, ex := runCLI(t, env, "", "--ca-cert", caFile, "--client-cert", cliCert, "--client-key", cliKey, "key", "list", "-o", "json"); ex != 0 || !strings.HasPrefix(o, "[") {
		t.Fatalf("with the client certificate: %d %s", ex, se)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no client certificate", []string{"--ca-cert", caFile}, 9, "requires a client certificate"},
		{"a certificate from another CA", []string{"--ca-cert", caFile, "--client-cert", badCert, "--client-key", badKey}, 9, "requires a client certificate signed by a CA it trusts"},
		{"the private CA not trusted", []string{"--client-cert", cliCert, "--client-key", cliKey}, 9, "unknown authority; trust its CA with --ca-cert"},
		{"certificate and key that do not match", []string{"--ca-cert", caFile, "--client-cert", cliCert, "--client-key", badKey}, 2, "do not match"},
		{"unreadable CA file", []string{"--ca-cert", filepath.Join(dir, "missing.pem")}, 2, "cannot read --ca-cert"},
		{"only half a pair", []string{"--client-cert", cliCert}, 2, "go together"},
	}
	for _, c := range cases {
		_, se, ex := runCLI(t, env, "", append(c.args, "key", "list")...)
		if ex != c.code || !strings.Contains(se, c.want) {
			t.Errorf("%s: want exit %d and %q, got %d: %s", c.name, c.code, c.want, ex, se)
		}
	}
	// the same settings per profile in the config file
	cfgDir := t.TempDir()
	penv := []string{"CODESYNC_SERVER=" + vars["CODESYNC_SERVER"], "CODESYNC_AUTH_TOKEN=" + vars["CODESYNC_AUTH_TOKEN"], "CODESYNC_CONFIG_DIR=" + cfgDir}
	for k, v := range map[string]string{"ca_cert": caFile, "client_cert": cliCert, "client_key": cliKey} {
		if _, se, ex := runCLI(t, penv, "", "config", "set", k, v); ex != 0 {
			t.Fatal(se)
		}
	}
	if _, se, ex := runCLI(t, penv, "", "key", "list"); ex != 0 {
		t.Fatalf("profile TLS settings: %d %s", ex, se)
	}
}
