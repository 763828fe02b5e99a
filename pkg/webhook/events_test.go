package webhook

import (
	"reflect"
	"testing"
	"time"
)

func TestParseEvents(t *testing.T) {
	got, err := ParseEvents(" key.revoked,key.expiring,key.revoked ")
	if err != nil || !reflect.DeepEqual(got, []string{"key.expiring", "key.revoked"}) {
		t.Errorf("got %v %v", got, err)
	}
	if all, _ := ParseEvents(""); len(all) != 7 {
		t.Errorf("empty: %v", all)
	}
	for _, bad := range []string{"key.deleted", "key.expiring,", "KEY.EXPIRING"} {
		if _, err := ParseEvents(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNewPayload(t *testing.T) {
	b, err := NewPayload(EventKeyExpiring, time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), map[string]string{"key_id": "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"key.expiring","timestamp":"2026-01-02T02:04:05Z","data":{"key_id":"k1"}}`; string(b) != want {
		t.Errorf("payload %s, want %s", b, want)
	}
	if _, err := NewPayload("nope", time.Now(), nil); err == nil {
		t.Error("unknown event accepted")
	}
}
