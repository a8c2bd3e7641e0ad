package web

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// themeVars reads the custom properties of the rule that starts with
// selector in the stylesheet.
func themeVars(t *testing.T, css, selector string) map[string]string {
	t.Helper()
	i := strings.Index(css, selector)
	if i < 0 {
		t.Fatalf("no rule %q in app.css", selector)
	}
	rule := css[i:]
	rule = rule[strings.Index(rule, "{")+1 : strings.Index(rule, "}")]
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})`).FindAllStringSubmatch(rule, -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// luminance is WCAG's relative luminance of #rrggbb (or #rgb).
func luminance(t *testing.T, hex string) float64 {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatalf("colour %q: %v", hex, err)
		}
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// Text at least 4.5:1 against what it sits on, field and button borders
// at least 3:1 (WCAG 1.4.3 and 1.4.11), in both themes.
func TestThemeContrast(t *testing.T) {
	raw, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(raw)
	light := themeVars(t, css, ":root {")
	dark := themeVars(t, css, ":root[data-theme=dark] {")
	if auto := themeVars(t, css, ":root:not([data-theme=light]) {"); len(auto) != len(dark) {
		t.Fatalf("the automatic dark theme differs from the chosen one: %v vs %v", auto, dark)
	}
	for name, theme := range map[string]map[string]string{"light": light, "dark": dark} {
		for k, v := range dark {
			if _, ok := light[k]; !ok {
				t.Errorf("--%s (%s) is dark-only", k, v)
			}
		}
		for _, c := range []struct {
			fg, bg string
			min    float64
		}{
			{"fg", "bg", 4.5}, {"muted", "bg", 4.5}, {"accent", "bg", 4.5}, {"ok", "bg", 4.5}, {"bad", "bg", 4.5}, {"warn", "bg", 4.5},
			{"on-accent", "accent", 4.5}, {"bg", "bad", 4.5}, {"field", "bg", 3},
		} {
			if r := contrast(t, theme[c.fg], theme[c.bg]); r < c.min {
				t.Errorf("%s theme: --%s %s on --%s %s is %.2f:1, want at least %.1f:1", name, c.fg, theme[c.fg], c.bg, theme[c.bg], r, c.min)
			}
		}
	}
	// Fields and buttons use the border colour that passes, not --line.
	for _, rule := range []string{"input, select, textarea {", "button {"} {
		i := strings.Index(css, rule)
		if i < 0 || !strings.Contains(css[i:i+strings.Index(css[i:], "}")], "var(--field)") {
			t.Errorf("%s does not use --field for its border", rule)
		}
	}
}
