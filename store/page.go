package store

import "strings"

// likePattern escapes s for use in a LIKE ... ESCAPE '\' expression.
func likePattern(prefix, s, suffix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return prefix + r.Replace(s) + suffix
}
