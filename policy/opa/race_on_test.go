//go:build race

package opa

const raceEnabled = true
