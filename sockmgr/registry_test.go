package sockmgr_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/sockd/sockd/sockmgr"
)

func TestIDsAreUnguessableAndURLSafe(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	seen := map[string]bool{}
	idRE := regexp.MustCompile(`^[a-z0-9]{24}$`)
	for range 100 {
		s := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
		if !idRE.MatchString(s.ID()) || seen[s.ID()] {
			t.Fatalf("id %q: wrong shape or repeated", s.ID())
		}
		seen[s.ID()] = true
		check(t, s.Close())
	}
}

func TestNamesOwnersAndLookups(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	a := must[*sockmgr.Socket](t)(m.Create("alice", sockmgr.CreateOptions{Name: "web"}))
	// Names are unique per owner, not across owners.
	if _, err := m.Create("alice", sockmgr.CreateOptions{Name: "web"}); !errors.Is(err, sockmgr.ErrNameInUse) {
		t.Fatalf("duplicate name: %v", err)
	}
	b := must[*sockmgr.Socket](t)(m.Create("bob", sockmgr.CreateOptions{Name: "web"}))
	alice, bob := sockmgr.Scope{Owner: "alice"}, sockmgr.Scope{Owner: "bob"}
	if got := must[*sockmgr.Socket](t)(m.Get(alice, "web")); got != a {
		t.Fatal("alice's web is not hers")
	}
	if got := must[*sockmgr.Socket](t)(m.Get(bob, "web")); got != b {
		t.Fatal("bob's web is not his")
	}
	if got := must[*sockmgr.Socket](t)(m.Get(alice, a.ID())); got != a {
		t.Fatal("lookup by id")
	}
	// Another owner's socket does not exist for you, by id or by name.
	if _, err := m.Get(bob, a.ID()); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("bob sees alice's socket: %v", err)
	}
	if got := must[*sockmgr.Socket](t)(m.Get(sockmgr.Scope{Admin: true}, a.ID())); got != a {
		t.Fatal("admin lookup")
	}
	check(t, a.Close())
	if _, err := m.Get(alice, "web"); !errors.Is(err, sockmgr.ErrNotFound) {
		t.Fatalf("closed socket found: %v", err)
	}
	// The name is free again.
	must[*sockmgr.Socket](t)(m.Create("alice", sockmgr.CreateOptions{Name: "web"}))
	for _, bad := range []string{"Web", "-web", "web-", "w b", "a/b", string(make([]byte, 64))} {
		if _, err := m.Create("alice", sockmgr.CreateOptions{Name: bad}); !errors.Is(err, sockmgr.ErrInvalidArgument) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if _, err := m.Create("alice", sockmgr.CreateOptions{Labels: map[string]string{"bad key": "v"}}); !errors.Is(err, sockmgr.ErrInvalidArgument) {
		t.Errorf("bad label key: %v", err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	var ids []string
	for i := range 7 {
		opts := sockmgr.CreateOptions{Labels: map[string]string{"suite": "list"}}
		if i%2 == 1 {
			opts.Protocol = sockmgr.UDP
			opts.Labels = map[string]string{"suite": "other"}
		}
		ids = append(ids, must[*sockmgr.Socket](t)(m.Create(owner, opts)).ID())
	}
	must[*sockmgr.Socket](t)(m.Create("someone-else", sockmgr.CreateOptions{}))
	me := sockmgr.Scope{Owner: owner}
	all, more := m.List(me, sockmgr.Filter{})
	if len(all) != 7 || more {
		t.Fatalf("list: %d sockets, more=%v", len(all), more)
	}
	for i, s := range all {
		if s.ID() != ids[i] {
			t.Fatalf("list order: %d is %s, want %s (creation order)", i, s.ID(), ids[i])
		}
	}
	udp, _ := m.List(me, sockmgr.Filter{Protocol: sockmgr.UDP})
	labelled, _ := m.List(me, sockmgr.Filter{Labels: map[string]string{"suite": "list"}})
	if len(udp) != 3 || len(labelled) != 4 {
		t.Fatalf("filters: %d udp, %d labelled", len(udp), len(labelled))
	}
	var paged []string
	var after uint64
	for page := 0; ; page++ {
		got, more := m.List(me, sockmgr.Filter{AfterSeq: after, Limit: 3})
		for _, s := range got {
			paged = append(paged, s.ID())
		}
		if !more {
			break
		}
		after = got[len(got)-1].Seq()
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(paged) != 7 || paged[6] != ids[6] {
		t.Fatalf("paged %d ids", len(paged))
	}
	if everyone, _ := m.List(sockmgr.Scope{Admin: true}, sockmgr.Filter{}); len(everyone) != 8 {
		t.Fatalf("admin sees %d", len(everyone))
	}
}

func TestSocketLimits(t *testing.T) {
	m := newManager(t, sockmgr.Config{MaxSockets: 3, MaxSocketsPerOwner: 2})
	a1 := must[*sockmgr.Socket](t)(m.Create("a", sockmgr.CreateOptions{}))
	must[*sockmgr.Socket](t)(m.Create("a", sockmgr.CreateOptions{}))
	if _, err := m.Create("a", sockmgr.CreateOptions{}); !errors.Is(err, sockmgr.ErrLimit) {
		t.Fatalf("third socket of a: %v", err)
	}
	must[*sockmgr.Socket](t)(m.Create("b", sockmgr.CreateOptions{}))
	if _, err := m.Create("c", sockmgr.CreateOptions{}); !errors.Is(err, sockmgr.ErrLimit) {
		t.Fatalf("fourth socket in all: %v", err)
	}
	check(t, a1.Close())
	must[*sockmgr.Socket](t)(m.Create("c", sockmgr.CreateOptions{}))
}

func TestAcceptWithName(t *testing.T) {
	m := newManager(t, sockmgr.Config{})
	l := listener(t, m, sockmgr.IPv4)
	dial := func() {
		c := must[*sockmgr.Socket](t)(m.Create(owner, sockmgr.CreateOptions{}))
		check(t, c.Connect(ctxT(t), l.Info().LocalAddr.String(), nil))
	}
	dial()
	conn := must[*sockmgr.Socket](t)(l.Accept(ctxT(t), sockmgr.AcceptOptions{Name: "conn1"}))
	if got := must[*sockmgr.Socket](t)(m.Get(sockmgr.Scope{Owner: owner}, "conn1")); got != conn {
		t.Fatal("accepted socket not found by its name")
	}
	// A taken name is refused before a connection is taken from the kernel.
	dial()
	if _, err := l.Accept(ctxT(t), sockmgr.AcceptOptions{Name: "conn1"}); !errors.Is(err, sockmgr.ErrNameInUse) {
		t.Fatalf("accept with a taken name: %v", err)
	}
	if _, err := l.Accept(ctxT(t), sockmgr.AcceptOptions{Name: "conn2", Timeout: dur(0)}); err != nil {
		t.Fatalf("the pending connection was lost: %v", err)
	}
}
