package sip

import (
	"context"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-pbx/dialtone/core"
)

// TestCachedCredentialsFollowChanges registers through the handler with the
// credential cache on while the extension changes through core.Extensions:
// every change applies to the next REGISTER.
func TestCachedCredentialsFollowChanges(t *testing.T) {
	ctx := context.Background()
	rb := newRegisterBench(t, 2)
	u := &rb.users[0]
	u.callID = "cache-test"
	ext, err := rb.s.dir.ExtensionBySIPUsername(ctx, u.name)
	if err != nil {
		t.Fatal(err)
	}
	branch := 0
	steps := []struct {
		name     string
		change   func()
		password string
		want     int
	}{
		{"cached", func() {}, u.password, sip.StatusOK},
		{"password changed", func() {
			pw := "another-password-1"
			if _, err := rb.exts.Update(ctx, ext.ID, 0, func(*core.ExtensionSpec) (core.ExtensionChange, error) {
				return core.ExtensionChange{SIPPassword: &pw}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, "another-password-1", sip.StatusOK},
		{"old password refused", func() {}, u.password, sip.StatusUnauthorized},
		{"disabled", func() {
			if _, err := rb.exts.Update(ctx, ext.ID, 0, func(s *core.ExtensionSpec) (core.ExtensionChange, error) {
				s.Enabled = false
				return core.ExtensionChange{}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, "another-password-1", sip.StatusForbidden},
		{"deleted", func() {
			if err := rb.exts.Delete(ctx, ext.ID); err != nil {
				t.Fatal(err)
			}
		}, "another-password-1", sip.StatusUnauthorized},
	}
	orig := u.password
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			u.password = st.password
			if got := rb.exchange(t, u, 5062, &branch); got != st.want {
				t.Fatalf("status %d, want %d", got, st.want)
			}
		})
	}
	u.password = orig
	if rb.s.users.Len() == 0 {
		t.Fatal("nothing cached")
	}
}

// exchange runs REGISTER, 401, REGISTER with credentials and returns the
// final status, whether sent statefully or not.
func (b *registerBench) exchange(t *testing.T, u *benchUser, port int, branch *int) int {
	t.Helper()
	*branch += 2
	u.nonce, u.nc = "", 0
	u.cseq++
	b.tx.conn.reset()
	b.s.onRegister(b.request(t, u, port, *branch), &b.tx)
	res := b.tx.conn.response()
	if res == nil || res.StatusCode != sip.StatusUnauthorized {
		t.Fatalf("first REGISTER: %v", res)
	}
	u.nonce, u.nc = nonceOf(t, res), 1
	u.cseq++
	b.tx.res = nil
	b.tx.conn.reset()
	b.s.onRegister(b.request(t, u, port, *branch+1), &b.tx)
	if b.tx.res != nil {
		return b.tx.res.StatusCode
	}
	if r := b.tx.conn.response(); r != nil {
		return r.StatusCode
	}
	t.Fatal("no answer")
	return 0
}
