package service

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
)

// Paging bounds of every List RPC.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// A page token says where the previous page ended — a position in creation
// order, not the id of the last item, which may be gone by the next call —
// and which listing it belongs to: the RPC and its filter, hashed. So a
// page never repeats or skips an item that lives through the paging (items
// created meanwhile come after the position: seen once, or not at all), and
// a token reused with another filter is refused rather than silently
// continuing a different listing.
//
// Wire form: base64url of 8 bytes of position then 8 bytes of the filter's
// digest.
const pageTokenLen = 16

// pageSize validates a request's page_size.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalidField("page_size", ReasonInvalidArgument, "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return int(n), nil
}

// listingDigest identifies a listing: the RPC and every filter field, in a
// fixed order.
func listingDigest(rpc string, filter ...string) [8]byte {
	h := sha256.New()
	h.Write([]byte(rpc))
	for _, f := range filter {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var d [8]byte
	copy(d[:], h.Sum(nil))
	return d
}

// encodePageToken is the token of the page after position pos.
func encodePageToken(pos uint64, listing [8]byte) string {
	var b [pageTokenLen]byte
	binary.BigEndian.PutUint64(b[:8], pos)
	copy(b[8:], listing[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodePageToken returns the position a token resumes after (0 for no
// token), or INVALID_ARGUMENT for a token that is not one of this listing's.
func decodePageToken(tok string, listing [8]byte) (uint64, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != pageTokenLen {
		return 0, invalidField("page_token", ReasonInvalidArgument, "not a token from a previous page")
	}
	if [8]byte(b[8:]) != listing {
		return 0, invalidField("page_token", ReasonInvalidArgument, "the token belongs to another listing: repeat the page's filter exactly, or start again without a token")
	}
	return binary.BigEndian.Uint64(b[:8]), nil
}

// canonicalLabels spells a label selector one way whatever its order or
// spacing, so that "a=1,b=2" and "b=2, a=1" are the same listing.
func canonicalLabels(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k + "=" + labels[k] + ",")
	}
	return b.String()
}
