package devicedict

import (
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// closest returns the candidate nearest to s by edit distance, when it is
// near enough to be a likely typo, or "".
func closest(s string, candidates []string) string {
	limit := 1
	switch n := utf8.RuneCountInString(s); {
	case n > 8:
		limit = 3
	case n > 4:
		limit = 2
	}
	best, bestD := "", limit+1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if d := distance(s, c, bestD); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean is "; did you mean \"x\"?" or "".
func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf("; did you mean %s?", strconv.Quote(c))
	}
	return ""
}

// distance is the optimal string alignment distance between a and b (in
// runes: insertions, deletions, substitutions and swaps of neighbours), or
// any value ≥ bound once it is known to reach bound.
func distance(a, b string, bound int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= bound || -d >= bound {
		return bound
	}
	if len(ra) > 256 || len(rb) > 256 {
		return bound
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= bound {
			return bound
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
