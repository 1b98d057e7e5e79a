// Package config holds what the configuration of every subsystem shares: the
// error that names one invalid setting, and the list of them a section's
// validation returns, so that an operator sees every problem at once, each
// under the key it is written with in the configuration file.
//
// Each subsystem owns its section: its type, its defaults and its checks
// (identity.Config, screening.Config, geo.Config, ...); cmd/weightgate only
// composes them and checks what spans sections.
package config

import (
	"fmt"
	"strings"
)

// Error is one invalid setting: the key as written in the configuration file
// (for example "auth.issuers[1].algorithms[0]"), the value found, and what is
// wrong with it.
type Error struct {
	Field string
	Value any
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %v (got %q)", e.Field, e.Err, fmt.Sprint(e.Value))
}

func (e *Error) Unwrap() error { return e.Err }

// Problems collects the invalid settings of a configuration.
type Problems []*Error

// Add records that field has value, which err says is wrong.
func (p *Problems) Add(field string, value any, err error) {
	*p = append(*p, &Error{Field: field, Value: value, Err: err})
}

// Addf is Add with a formatted message.
func (p *Problems) Addf(field string, value any, format string, args ...any) {
	p.Add(field, value, fmt.Errorf(format, args...))
}

// Err returns nil when there are no problems, else a *ValidationError
// listing them under title.
func (p Problems) Err(title string) error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Title: title, Problems: p}
}

// ValidationError lists every problem a validation found.
type ValidationError struct {
	Title    string // "invalid configuration", "invalid auth configuration", ...
	Problems []*Error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Title)
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems, so that errors.Is and errors.As
// reach the sentinel of each.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}
