package service_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/gen/sockd/v1"
)

// Page tokens carry a position, not an id: closing the last socket of a
// page neither repeats nor skips anything, sockets created while paging
// appear once or not at all, and a token is refused with another filter.
func TestPagingNeitherRepeatsNorSkips(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	var ids []string
	for range 7 {
		s := ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Labels: map[string]string{"page": "yes", "b": "2"}}))
		ids = append(ids, s.GetId())
	}
	list := func(token string, selector string) *sockdv1.ListSocketsResponse {
		t.Helper()
		return ok[*sockdv1.ListSocketsResponse](t)(c.ListSockets(ctx, &sockdv1.ListSocketsRequest{PageSize: 3, PageToken: token, LabelSelector: selector}))
	}
	seen := map[string]int{}
	p1 := list("", "page=yes,b=2")
	for _, s := range p1.GetSockets() {
		seen[s.GetId()]++
	}
	// The last socket of page 1 goes away before page 2 is asked for, and
	// new sockets come.
	ok[*sockdv1.Socket](t)(c.CloseSocket(ctx, &sockdv1.CloseSocketRequest{Id: p1.GetSockets()[2].GetId()}))
	for range 2 {
		ok[*sockdv1.Socket](t)(c.CreateSocket(ctx, &sockdv1.CreateSocketRequest{Labels: map[string]string{"page": "yes", "b": "2"}}))
	}
	// The same filter, spelt another way, is the same listing.
	token := p1.GetNextPageToken()
	for i := 0; token != ""; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		p := list(token, " b=2, page=yes ")
		for _, s := range p.GetSockets() {
			seen[s.GetId()]++
		}
		token = p.GetNextPageToken()
	}
	for _, id := range ids {
		if id == p1.GetSockets()[2].GetId() {
			continue
		}
		if seen[id] != 1 {
			t.Errorf("socket %s was listed %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("socket %s listed %d times", id, n)
		}
	}
	if len(seen) < 6 {
		t.Errorf("only %d sockets seen", len(seen))
	}
	// A token used with another filter, or not a token at all.
	_, err := c.ListSockets(ctx, &sockdv1.ListSocketsRequest{PageSize: 3, PageToken: p1.GetNextPageToken(), LabelSelector: "page=no"})
	wantErr(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = c.ListSockets(ctx, &sockdv1.ListSocketsRequest{PageToken: p1.GetNextPageToken(), State: sockdv1.State_STATE_BOUND, LabelSelector: "page=yes,b=2"})
	wantErr(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = c.ListSockets(ctx, &sockdv1.ListSocketsRequest{PageToken: "bm90IGEgdG9rZW4"})
	wantErr(t, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	// An empty listing says so.
	if p := list("", "page=none"); len(p.GetSockets()) != 0 || p.GetNextPageToken() != "" {
		t.Errorf("empty listing: %v", p)
	}
}

func TestLeasesArePaged(t *testing.T) {
	c := newClient(t, nil)
	ctx := ctxT(t)
	var ids []string
	for range 5 {
		l := ok[*sockdv1.Lease](t)(c.CreateLease(ctx, &sockdv1.CreateLeaseRequest{Ttl: durationpb.New(60e9)}))
		ids = append(ids, l.GetId())
	}
	got := ok[*sockdv1.Lease](t)(c.GetLease(ctx, &sockdv1.GetLeaseRequest{Id: ids[0]}))
	if got.GetId() != ids[0] || got.GetTtl().AsDuration() != 60e9 {
		t.Fatalf("get lease: %v", got)
	}
	ok[*sockdv1.Lease](t)(c.RevokeLease(ctx, &sockdv1.RevokeLeaseRequest{Id: ids[1]}))
	var listed []string
	token := ""
	for i := 0; i == 0 || token != ""; i++ {
		p := ok[*sockdv1.ListLeasesResponse](t)(c.ListLeases(ctx, &sockdv1.ListLeasesRequest{PageSize: 2, PageToken: token}))
		for _, l := range p.GetLeases() {
			listed = append(listed, l.GetId())
		}
		token = p.GetNextPageToken()
	}
	want := []string{ids[0], ids[2], ids[3], ids[4]}
	if len(listed) != len(want) {
		t.Fatalf("listed %v, want %v", listed, want)
	}
	for i := range want {
		if listed[i] != want[i] {
			t.Fatalf("listed %v, want %v (creation order)", listed, want)
		}
	}
	_, err := c.GetLease(ctx, &sockdv1.GetLeaseRequest{Id: ids[1]})
	wantErr(t, err, codes.NotFound, "LEASE_NOT_FOUND")
}
