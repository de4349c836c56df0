package sockmgr

import (
	"crypto/rand"
	"encoding/base32"
	"regexp"
	"strconv"
)

// idEncoding is base32 in lower case: ids are [a-z2-7], safe in URLs, shell
// arguments and file names.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// IDLen is the length of a socket id: 15 random bytes (120 bits) in base32.
const IDLen = 24

// newID returns an unguessable socket id.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return idEncoding.EncodeToString(b[:])
}

// Names are DNS-label-like, so they read well in URLs and CLIs and cannot be
// mistaken for paths or flags.
var (
	nameRE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	labelKeyRE   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$`)
	labelValueRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$`)
)

// MaxLabels bounds the labels of one socket.
const MaxLabels = 32

// ValidateName checks a socket name: 1 to 63 characters of [a-z0-9._-],
// starting and ending with a letter or digit.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return detail(ErrInvalidArgument, "name %q: want 1-63 characters of a-z, 0-9, '.', '_', '-', starting and ending with a letter or digit", clip(name))
	}
	return nil
}

// ValidateLabels checks label keys and values, in the style of Kubernetes:
// keys of up to 63 characters of [A-Za-z0-9._/-], values of up to 63 of
// [A-Za-z0-9._-] (or empty).
func ValidateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return detail(ErrInvalidArgument, "at most %d labels", MaxLabels)
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return detail(ErrInvalidArgument, "label key %q: want 1-63 characters of A-Z, a-z, 0-9, '.', '_', '/', '-', starting and ending with a letter or digit", clip(k))
		}
		if !labelValueRE.MatchString(v) {
			return detail(ErrInvalidArgument, "label %s value %q: want up to 63 characters of A-Z, a-z, 0-9, '.', '_', '-', starting and ending with a letter or digit", k, clip(v))
		}
	}
	return nil
}

func validateCreate(proto Protocol, fam Family, opts CreateOptions) error {
	if proto != TCP && proto != UDP {
		return detail(ErrInvalidArgument, "protocol must be TCP or UDP")
	}
	if fam != IPv4 && fam != IPv6 {
		return detail(ErrInvalidArgument, "family must be IPv4 or IPv6")
	}
	if opts.Name != "" {
		if err := ValidateName(opts.Name); err != nil {
			return err
		}
	}
	if opts.Timeout != nil && *opts.Timeout < 0 {
		return detail(ErrInvalidArgument, "timeout must not be negative")
	}
	return ValidateLabels(opts.Labels)
}

func itoa(n int) string { return strconv.Itoa(n) }
