package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jmoiron/sqlx"
)

// KeyFileName is the file inside the data dir holding the key that seals
// secrets. It belongs with the database: without it, sealed secrets are lost.
const KeyFileName = "secret.key"

// sealer encrypts secrets that must be recoverable (SIP passwords feed digest
// authentication and phone provisioning) with a key kept beside the database,
// so a copy of the database alone does not reveal them.
type sealer struct {
	aead cipher.AEAD
}

// checkPlaintext is sealed into secret_check when a key is first used with a
// database; a key that cannot open it is not the database's key.
const checkPlaintext = "dialtone secret key check v1"

// loadSealer reads the data dir's key and checks that it is the key this
// database's secrets were sealed with. A missing key is generated only while
// the database holds nothing sealed: otherwise, and when the key differs, the
// database is refused rather than having its secrets made unreadable.
func loadSealer(ctx context.Context, db *sqlx.DB, path string) (*sealer, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		sealed, serr := holdsSealed(ctx, db)
		if serr != nil {
			return nil, serr
		}
		if sealed {
			return nil, fmt.Errorf("secret key %s is missing but the database holds secrets sealed with it: restore the secret.key kept with this database", path)
		}
		if key, err = createKeyFile(path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if err := restrictFile(path); err != nil {
		return nil, err
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	if err := s.verify(ctx, db); errors.Is(err, errWrongKey) {
		return nil, fmt.Errorf("secret key %s %w: restore the secret.key kept with this database", path, err)
	} else if err != nil {
		return nil, err
	}
	return s, nil
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("want 32 bytes, have %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// sealedColumns are every column holding a value sealed with the key.
var sealedColumns = []struct{ table, column string }{
	{"secret_check", "sealed"},
	{"extensions", "sip_password_sealed"},
	{"trunks", "password_sealed"},
	{"webhooks", "secret_sealed"},
	{"webhooks", "old_secret_sealed"},
	{"idempotency_keys", "body"},
}

// aSealedValue returns one sealed value from the database, the check value
// first (checked true), or nil when nothing is sealed.
func aSealedValue(ctx context.Context, db *sqlx.DB) (v []byte, checked bool, err error) {
	for _, c := range sealedColumns {
		err := db.GetContext(ctx, &v, `SELECT `+c.column+` FROM `+c.table+
			` WHERE `+c.column+` IS NOT NULL AND length(`+c.column+`) > 0 LIMIT 1`)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, false, fmt.Errorf("look for sealed secrets in %s: %w", c.table, err)
		default:
			return v, c.table == "secret_check", nil
		}
	}
	return nil, false, nil
}

func holdsSealed(ctx context.Context, db *sqlx.DB) (bool, error) {
	v, _, err := aSealedValue(ctx, db)
	return v != nil, err
}

var errWrongKey = errors.New("is not the key this database's secrets are sealed with")

// verify checks that the key opens what the database holds sealed, and
// records a check value the first time.
func (s *sealer) verify(ctx context.Context, db *sqlx.DB) error {
	v, checked, err := aSealedValue(ctx, db)
	if err != nil {
		return err
	}
	if v != nil {
		if _, err := s.open(v); err != nil {
			return errWrongKey
		}
	}
	if checked {
		return nil
	}
	if _, err := db.ExecContext(ctx, `INSERT OR IGNORE INTO secret_check (id, sealed) VALUES (1, ?)`, s.seal(checkPlaintext)); err != nil {
		return fmt.Errorf("record the secret key check: %w", err)
	}
	return nil
}

// createKeyFile writes a new random key, readable by the owner only. When
// another process created the file first, its key is used.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return key, f.Close()
}

func (s *sealer) seal(plain string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, []byte(plain), nil)
}

func (s *sealer) open(sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed secret too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", errors.New("sealed secret does not open with this data dir's key")
	}
	return string(plain), nil
}
