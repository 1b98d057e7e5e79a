package main

import (
	"fmt"
	"strings"
)

// The environment variables that override the listen addresses of the
// configuration file; serve's flags override them in turn.
const (
	envListen      = "WEIGHTGATE_LISTEN"
	envS3Listen    = "WEIGHTGATE_S3_LISTEN"
	envAdminListen = "WEIGHTGATE_ADMIN_LISTEN"
)

// listenOverrides are listen addresses given outside the configuration
// file. A nil field overrides nothing; a field pointing at "" turns that
// listener off (the Hub API's cannot be).
type listenOverrides struct {
	listen, s3, admin *string
}

// set returns a flag.Func setter for one field.
func (o *listenOverrides) set(field **string) func(string) error {
	return func(v string) error {
		*field = &v
		return nil
	}
}

// envListenOverrides reads the WEIGHTGATE_* address variables. A variable
// that is set but empty counts: WEIGHTGATE_S3_LISTEN= turns the S3 API off,
// as s3.listen: "" does.
func envListenOverrides(lookup func(string) (string, bool)) listenOverrides {
	var o listenOverrides
	for _, e := range []struct {
		name  string
		field **string
	}{{envListen, &o.listen}, {envS3Listen, &o.s3}, {envAdminListen, &o.admin}} {
		if v, ok := lookup(e.name); ok {
			*e.field = &v
		}
	}
	return o
}

// overrideListen applies env over the file and flags over env, then
// validates the result again, naming where the overrides came from.
func (c *Config) overrideListen(env, flags listenOverrides) error {
	var from []string
	for _, o := range []struct {
		v      *string
		to     *string
		source string
	}{
		{env.listen, &c.Listen, "$" + envListen}, {env.s3, &c.S3.Listen, "$" + envS3Listen}, {env.admin, &c.Admin.Listen, "$" + envAdminListen},
		{flags.listen, &c.Listen, "--listen"}, {flags.s3, &c.S3.Listen, "--s3-listen"}, {flags.admin, &c.Admin.Listen, "--admin-listen"},
	} {
		if o.v != nil {
			*o.to = *o.v
			from = append(from, o.source)
		}
	}
	if len(from) == 0 {
		return nil
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("with %s: %w", strings.Join(from, ", "), err)
	}
	return nil
}
