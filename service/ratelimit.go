package service

import (
	"sync"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
)

// RateLimiter bounds the calls per second of each principal (a token bucket
// each). Health checks and reflection are not counted.
type RateLimiter struct {
	perSecond rate.Limit
	burst     int
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

// NewRateLimiter allows perSecond calls per principal with bursts of burst;
// perSecond 0 means no limit (nil is returned).
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &RateLimiter{perSecond: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for the principal, or says RESOURCE_EXHAUSTED.
func (r *RateLimiter) allow(principal string) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	b := r.buckets[principal]
	if b == nil {
		// One bucket per principal: principals come from the token file
		// or the CA's certificates, a bounded set.
		b = rate.NewLimiter(r.perSecond, r.burst)
		r.buckets[principal] = b
	}
	r.mu.Unlock()
	if !b.Allow() {
		return withInfo(codes.ResourceExhausted, sprintf("%q is over its limit of %v calls per second", principal, float64(r.perSecond)),
			ReasonLimitExceeded, map[string]string{"limit": "calls per second", "max": sprintf("%v", float64(r.perSecond)), "principal": principal})
	}
	return nil
}
