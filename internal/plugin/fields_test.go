package plugin

import (
	"reflect"
	"strings"
	"testing"
)

type sample struct {
	Host    string            `json:"host" help:"server"`
	Port    int               `json:"port"`
	TLS     bool              `json:"tls,omitempty"`
	Mode    string            `json:"mode,omitempty" choices:"|a|b"`
	To      []string          `json:"to"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty" form:"textarea"`
	hidden  string
}

func TestFieldsFormRoundTrip(t *testing.T) {
	f := Typed("x", "X", nil, func(c sample, _ map[string]string) (sample, error) { return c, nil })
	var kinds []string
	for _, fl := range f.Fields {
		kinds = append(kinds, fl.Name+":"+fl.Kind)
	}
	if got := strings.Join(kinds, " "); got != "host:text port:number tls:bool mode:text to:list headers:map body:textarea" {
		t.Fatalf("fields: %s", got)
	}
	if f.Fields[0].Help != "server" || f.Fields[0].Label() != "Host" || !f.Fields[2].Optional || len(f.Fields[3].Choices) != 3 {
		t.Fatalf("tags: %+v", f.Fields)
	}
	form := map[string]string{"host": " db.example ", "port": "5433", "tls": "on", "mode": "b", "to": "a@x\nb@x, c@x",
		"headers": "X-One: 1\n\nX-Two: two words", "body": "  {{.Title}}\n"}
	raw, errs := FormConfig(f.Fields, func(n string) string { return form[n] })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got, err := f.New(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sample{Host: "db.example", Port: 5433, TLS: true, Mode: "b", To: []string{"a@x", "b@x", "c@x"},
		Headers: map[string]string{"X-One": "1", "X-Two": "two words"}, Body: "  {{.Title}}\n"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config from the form: %+v", got)
	}
	back := FormValues(f.Fields, raw)
	raw2, _ := FormConfig(f.Fields, func(n string) string { return back[n] })
	if again, _ := f.New(raw2, nil); !reflect.DeepEqual(again, want) {
		t.Fatalf("stored config shown in the form and saved again: %+v", again)
	}
	// Empty fields are left out (the plugin's defaults apply); bad input is named.
	raw, _ = FormConfig(f.Fields, func(string) string { return "" })
	if string(raw) != "{}" {
		t.Fatalf("empty form: %s", raw)
	}
	_, errs = FormConfig(f.Fields, func(n string) string {
		return map[string]string{"port": "54x", "headers": "no colon here"}[n]
	})
	if errs["port"] != "a whole number" || !strings.Contains(errs["headers"], "one “name: value” per line") {
		t.Fatalf("errors: %v", errs)
	}
}
