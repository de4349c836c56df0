// Package policy is sockd's address policy: which local addresses and ports
// a client may bind, and which destinations it may connect or send to. It
// implements sockmgr.Policy, so the check runs on the resolved address that
// the kernel is then given.
//
// It imports sockmgr (for its types) and the standard library.
package policy
