package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.TrunkRepo = (*DB)(nil)

type trunkRow struct {
	ID              string `db:"id"`
	Name            string `db:"name"`
	Host            string `db:"host"`
	Port            int    `db:"port"`
	Transport       string `db:"transport"`
	AuthMode        string `db:"auth_mode"`
	Username        string `db:"username"`
	PasswordSealed  []byte `db:"password_sealed"`
	Realm           string `db:"realm"`
	RegisterExpires int    `db:"register_expires"`
	AllowedCIDRs    string `db:"allowed_cidrs"`
	OutboundProxy   string `db:"outbound_proxy"`
	FromUser        string `db:"from_user"`
	FromDomain      string `db:"from_domain"`
	DIDSource       string `db:"did_source"`
	Codecs          string `db:"codecs"`
	MaxChannels     int    `db:"max_channels"`
	Enabled         bool   `db:"enabled"`
	Version         int64  `db:"version"`
	CreatedAt       int64  `db:"created_at"`
	UpdatedAt       int64  `db:"updated_at"`
}

const trunkColumns = `id, name, host, port, transport, auth_mode, username, password_sealed, realm, register_expires,
	allowed_cidrs, outbound_proxy, from_user, from_domain, did_source, codecs, max_channels, enabled, version,
	created_at, updated_at`

func (db *DB) trunkToRow(t *core.Trunk) trunkRow {
	r := trunkRow{ID: string(t.ID), Name: t.Name, Host: t.Host, Port: t.Port, Transport: t.Transport, AuthMode: t.AuthMode,
		Username: t.Username, Realm: t.Realm, RegisterExpires: t.RegisterExpires, AllowedCIDRs: strings.Join(t.AllowedCIDRs, ","),
		OutboundProxy: t.OutboundProxy, FromUser: t.FromUser, FromDomain: t.FromDomain, DIDSource: t.DIDSource,
		Codecs: strings.Join(t.Codecs, ","), MaxChannels: t.MaxChannels, Enabled: t.Enabled, Version: t.Version,
		CreatedAt: micros(t.CreatedAt), UpdatedAt: micros(t.UpdatedAt)}
	if t.Password != "" {
		r.PasswordSealed = db.sealer.seal(t.Password.Reveal())
	}
	return r
}

func (db *DB) rowToTrunk(r *trunkRow) (*core.Trunk, error) {
	t := &core.Trunk{ID: core.TrunkID(r.ID), Name: r.Name, Host: r.Host, Port: r.Port, Transport: r.Transport, AuthMode: r.AuthMode,
		Username: r.Username, Realm: r.Realm, RegisterExpires: r.RegisterExpires, AllowedCIDRs: splitTypes(r.AllowedCIDRs),
		OutboundProxy: r.OutboundProxy, FromUser: r.FromUser, FromDomain: r.FromDomain, DIDSource: r.DIDSource,
		Codecs: splitTypes(r.Codecs), MaxChannels: r.MaxChannels, Enabled: r.Enabled, Version: r.Version,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
	if len(r.PasswordSealed) > 0 {
		pw, err := db.sealer.open(r.PasswordSealed)
		if err != nil {
			return nil, fmt.Errorf("trunk %s: %w", r.ID, err)
		}
		t.Password = core.Secret(pw)
	}
	return t, nil
}

// CreateTrunk stores a trunk.
func (db *DB) CreateTrunk(ctx context.Context, t *core.Trunk) error {
	_, err := db.w.NamedExecContext(ctx, `INSERT INTO trunks (`+trunkColumns+`) VALUES (:id, :name, :host, :port, :transport,
		:auth_mode, :username, :password_sealed, :realm, :register_expires, :allowed_cidrs, :outbound_proxy, :from_user,
		:from_domain, :did_source, :codecs, :max_channels, :enabled, :version, :created_at, :updated_at)`, db.trunkToRow(t))
	return err
}

// GetTrunk loads one trunk.
func (db *DB) GetTrunk(ctx context.Context, id core.TrunkID) (*core.Trunk, error) {
	var r trunkRow
	if err := db.r.GetContext(ctx, &r, `SELECT `+trunkColumns+` FROM trunks WHERE id = ?`, id); err != nil {
		return nil, notFound(err, "trunk", id)
	}
	return db.rowToTrunk(&r)
}

// ListTrunks returns one page of trunks ordered by id.
func (db *DB) ListTrunks(ctx context.Context, p core.PageRequest) (core.Page[*core.Trunk], error) {
	limit := p.Size()
	var after string
	if p.Cursor != "" {
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*core.Trunk]{}, err
		}
	}
	var rows []trunkRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+trunkColumns+` FROM trunks WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1); err != nil {
		return core.Page[*core.Trunk]{}, err
	}
	rows, next := core.TrimPage(rows, limit, func(r trunkRow) []any { return []any{r.ID} })
	page := core.Page[*core.Trunk]{Items: make([]*core.Trunk, 0, len(rows))}
	page.NextCursor = next
	for i := range rows {
		t, err := db.rowToTrunk(&rows[i])
		if err != nil {
			return core.Page[*core.Trunk]{}, err
		}
		page.Items = append(page.Items, t)
	}
	return page, nil
}

// EnabledTrunks lists every enabled trunk.
func (db *DB) EnabledTrunks(ctx context.Context) ([]*core.Trunk, error) {
	var rows []trunkRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+trunkColumns+` FROM trunks WHERE enabled = 1 ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]*core.Trunk, 0, len(rows))
	for i := range rows {
		t, err := db.rowToTrunk(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// UpdateTrunk writes t if its stored version is still expectVersion.
func (db *DB) UpdateTrunk(ctx context.Context, t *core.Trunk, expectVersion int64) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM trunks WHERE id = ?`, t.ID); err != nil {
			return notFound(err, "trunk", t.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("trunk %s changed: %w", t.ID, core.ErrPrecondition)
		}
		row := db.trunkToRow(t)
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE trunks SET name = :name, host = :host, port = :port, transport = :transport,
			auth_mode = :auth_mode, username = :username, password_sealed = :password_sealed, realm = :realm,
			register_expires = :register_expires, allowed_cidrs = :allowed_cidrs, outbound_proxy = :outbound_proxy,
			from_user = :from_user, from_domain = :from_domain, did_source = :did_source, codecs = :codecs,
			max_channels = :max_channels, enabled = :enabled, version = :version, updated_at = :updated_at WHERE id = :id`, row)
		if err == nil {
			t.Version = row.Version
		}
		return err
	})
}

// DeleteTrunk removes a trunk no number uses; otherwise it names the numbers.
func (db *DB) DeleteTrunk(ctx context.Context, id core.TrunkID) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var users []string
		if err := tx.SelectContext(ctx, &users, `SELECT number FROM numbers WHERE trunk_id = ? ORDER BY number LIMIT 20`, id); err != nil {
			return err
		}
		if len(users) > 0 {
			return &core.InUseError{Resource: "trunk " + string(id), UsedBy: "numbers", Refs: users}
		}
		var routes []string
		if err := tx.SelectContext(ctx, &routes, `SELECT name FROM outbound_routes WHERE ',' || trunk_ids || ',' LIKE ? ESCAPE '\' ORDER BY position LIMIT 20`,
			likePattern("%,", string(id), ",%")); err != nil {
			return err
		}
		if len(routes) > 0 {
			return &core.InUseError{Resource: "trunk " + string(id), UsedBy: "outbound routes", Refs: routes}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM trunks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("trunk %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}
