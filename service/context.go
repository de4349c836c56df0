package service

import (
	"context"
	"fmt"
	"log/slog"
)

// Principal is the authenticated caller. With no authentication configured
// every caller is Anonymous.
type Principal struct {
	Name  string
	Admin bool // sees and acts on every principal's sockets
}

// Anonymous is the principal of callers when no authentication is configured.
const Anonymous = "anonymous"

type principalKey struct{}
type requestIDKey struct{}
type loggerKey struct{}

// WithPrincipal records the authenticated caller in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller recorded by WithPrincipal, or Anonymous.
func PrincipalFrom(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok {
		return p
	}
	return Principal{Name: Anonymous}
}

// WithRequestID records the id that the logs and INTERNAL errors cite.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request's id, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithLogger records the request's logger.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
