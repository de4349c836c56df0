package main

// durationFlag is a flag that takes a duration (5s, 250ms), 0 or none, as
// --sock-timeout and --idle-timeout do: its help says "duration", and a
// value that is none of those is a usage error when the flag is parsed.
type durationFlag struct{ s *string }

func (f durationFlag) String() string {
	if f.s == nil {
		return ""
	}
	return *f.s
}

func (f durationFlag) Set(v string) error {
	if _, err := parseTimeout(v); err != nil {
		return err
	}
	*f.s = v
	return nil
}

func (durationFlag) Type() string { return "duration" }
