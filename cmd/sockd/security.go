package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/sockd/sockd/policy"
	"github.com/sockd/sockd/service"
)

// authFromConfig reads the token file and sets up who is who.
func authFromConfig(c *config, log *slog.Logger) (*service.Auth, error) {
	var tokens []service.Token
	if c.tokenFile != "" {
		f, err := os.Open(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		defer f.Close()
		if tokens, err = service.ParseTokens(f); err != nil {
			return nil, fmt.Errorf("--token-file %s: %w", c.tokenFile, err)
		}
		if len(tokens) == 0 {
			return nil, fmt.Errorf("--token-file %s has no tokens", c.tokenFile)
		}
	}
	return service.NewAuth(service.AuthConfig{Tokens: tokens, MTLS: c.tlsClientCA != "", Admins: c.admins, Log: log}), nil
}

// tlsFromConfig is the server TLS configuration (nil: plaintext). With a
// client CA, a client's certificate must be one it signed.
func tlsFromConfig(c *config) (*tls.Config, error) {
	if c.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if c.tlsClientCA != "" {
		pem, err := os.ReadFile(c.tlsClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s: no certificates in it", c.tlsClientCA)
		}
		// A certificate, when given, must be one the CA signed (else the
		// handshake fails); a client without one still gets through TLS, so
		// that health checks, reflection, /healthz and /openapi.json answer
		// Kubernetes probes. Every other call needs a certificate (or a
		// token): the service refuses it UNAUTHENTICATED.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// policyFromConfig builds the address policy: the defaults, replaced (per
// kind) by the rules given on the command line and in the policy file.
func policyFromConfig(c *config) (*policy.Policy, error) {
	p := policy.Default()
	var bind, connect []policy.Rule
	for _, s := range c.allowBind {
		r, err := policy.ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("--allow-bind: %w", err)
		}
		bind = append(bind, r)
	}
	for _, s := range c.allowConnect {
		r, err := policy.ParseRule(s)
		if err != nil {
			return nil, fmt.Errorf("--allow-connect: %w", err)
		}
		connect = append(connect, r)
	}
	if c.policyFile != "" {
		f, err := os.Open(c.policyFile)
		if err != nil {
			return nil, fmt.Errorf("--policy-file: %w", err)
		}
		defer f.Close()
		b, cn, err := policy.ParseFile(f)
		if err != nil {
			return nil, fmt.Errorf("--policy-file %s: %w", c.policyFile, err)
		}
		bind, connect = append(bind, b...), append(connect, cn...)
	}
	if len(bind) > 0 {
		p.Bind = bind
	}
	if len(connect) > 0 {
		p.Connect = connect
	}
	return p, nil
}
