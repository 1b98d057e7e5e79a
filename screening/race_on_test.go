//go:build race

package screening

const raceEnabled = true
