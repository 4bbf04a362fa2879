package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/dialtone-pbx/dialtone/core"
)

var _ core.ExtensionRepo = (*DB)(nil)

type extensionRow struct {
	ID                 string         `db:"id"`
	Number             string         `db:"number"`
	Name               string         `db:"name"`
	Email              string         `db:"email"`
	Mobile             string         `db:"mobile"`
	OutboundCallerID   string         `db:"outbound_caller_id"`
	Language           string         `db:"language"`
	Timezone           string         `db:"timezone"`
	Enabled            bool           `db:"enabled"`
	RingTimeoutSeconds int            `db:"ring_timeout_seconds"`
	VoicemailEnabled   bool           `db:"voicemail_enabled"`
	VoicemailPINHash   string         `db:"voicemail_pin_hash"`
	SIPUsername        string         `db:"sip_username"`
	SIPPasswordSealed  []byte         `db:"sip_password_sealed"`
	HideFromDirectory  bool           `db:"hide_from_directory"`
	CallPermissions    string         `db:"call_permissions"`
	EmergencyCallback  string         `db:"emergency_callback_number"`
	DigestAlgorithms   string         `db:"sip_digest_algorithms"`
	NamePromptID       sql.NullString `db:"name_prompt_id"`
	NoAnswerCallPlanID sql.NullString `db:"no_answer_call_plan_id"`
	Version            int64          `db:"version"`
	CreatedAt          int64          `db:"created_at"`
	UpdatedAt          int64          `db:"updated_at"`
}

const extensionColumns = `id, number, name, email, mobile, outbound_caller_id, language, timezone,
	enabled, ring_timeout_seconds, voicemail_enabled, voicemail_pin_hash, sip_username,
	sip_password_sealed, hide_from_directory, call_permissions, emergency_callback_number, sip_digest_algorithms,
	name_prompt_id, no_answer_call_plan_id, version, created_at, updated_at`

func (db *DB) extensionToRow(e *core.Extension) extensionRow {
	return extensionRow{
		ID: string(e.ID), Number: e.Number, Name: e.Name, Email: e.Email, Mobile: e.Mobile,
		OutboundCallerID: e.OutboundCallerID, Language: e.Language, Timezone: e.Timezone,
		Enabled: e.Enabled, RingTimeoutSeconds: e.RingTimeoutSeconds, VoicemailEnabled: e.VoicemailEnabled,
		VoicemailPINHash: e.VoicemailPINHash, SIPUsername: e.SIPUsername,
		SIPPasswordSealed: db.sealer.seal(e.SIPPassword.Reveal()), HideFromDirectory: e.HideFromDirectory,
		CallPermissions: strings.Join(e.CallPermissions, ","), EmergencyCallback: e.EmergencyCallbackNumber,
		DigestAlgorithms: strings.Join(e.SIPDigestAlgorithms, ","),
		NamePromptID:     nullString(e.NamePromptID), NoAnswerCallPlanID: nullString(e.NoAnswerCallPlanID),
		Version: e.Version, CreatedAt: micros(e.CreatedAt), UpdatedAt: micros(e.UpdatedAt),
	}
}

func (db *DB) rowToExtension(r *extensionRow) (*core.Extension, error) {
	pw, err := db.sealer.open(r.SIPPasswordSealed)
	if err != nil {
		return nil, fmt.Errorf("extension %s: %w", r.ID, err)
	}
	return &core.Extension{
		ID: core.ExtensionID(r.ID),
		ExtensionSpec: core.ExtensionSpec{
			Number: r.Number, Name: r.Name, Email: r.Email, Mobile: r.Mobile,
			OutboundCallerID: r.OutboundCallerID, Language: r.Language, Timezone: r.Timezone,
			Enabled: r.Enabled, RingTimeoutSeconds: r.RingTimeoutSeconds, VoicemailEnabled: r.VoicemailEnabled,
			SIPUsername: r.SIPUsername, HideFromDirectory: r.HideFromDirectory,
			CallPermissions: splitTypes(r.CallPermissions), EmergencyCallbackNumber: r.EmergencyCallback,
			SIPDigestAlgorithms: splitTypes(r.DigestAlgorithms),
			NamePromptID:        r.NamePromptID.String, NoAnswerCallPlanID: r.NoAnswerCallPlanID.String,
		},
		SIPPassword:      core.Secret(pw),
		VoicemailPINHash: r.VoicemailPINHash,
		Version:          r.Version,
		CreatedAt:        fromMicros(r.CreatedAt),
		UpdatedAt:        fromMicros(r.UpdatedAt),
	}, nil
}

// extensionConflict names the taken field of a unique violation, preferring the
// number when both the number and the SIP user name are taken.
func extensionConflict(ctx context.Context, q sqlx.QueryerContext, err error, e *core.Extension) error {
	err = uniqueViolation(err, "extension", map[string]string{"number": e.Number, "sip_username": e.SIPUsername, "id": string(e.ID)})
	var ce *core.ConflictError
	if errors.As(err, &ce) && ce.Field != "number" {
		var n int
		if sqlx.GetContext(ctx, q, &n, `SELECT count(*) FROM extensions WHERE number = ? AND id != ?`, e.Number, e.ID) == nil && n > 0 {
			ce.Field, ce.Value = "number", e.Number
		}
	}
	return err
}

// extensionRefsValid names a recorded name or call plan that does not exist.
func extensionRefsValid(ctx context.Context, q sqlx.QueryerContext, e *core.Extension) error {
	var v core.ValidationError
	var one int
	if e.NamePromptID != "" && sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM prompts WHERE id = ?`, e.NamePromptID) != nil {
		v.Add("name_prompt_id", "names no prompt", e.NamePromptID)
	}
	if e.NoAnswerCallPlanID != "" && sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM call_plans WHERE id = ?`, e.NoAnswerCallPlanID) != nil {
		v.Add("no_answer_call_plan_id", "names no call plan", e.NoAnswerCallPlanID)
	}
	return v.Err()
}

// CreateExtension inserts a new extension and appends events with it.
func (db *DB) CreateExtension(ctx context.Context, e *core.Extension, events ...core.Event) error {
	row := db.extensionToRow(e)
	return db.commitWithEvents(ctx, events, func(tx *sqlx.Tx) error {
		if err := extensionRefsValid(ctx, tx, e); err != nil {
			return err
		}
		_, err := tx.NamedExecContext(ctx, `INSERT INTO extensions (`+extensionColumns+`) VALUES (
			:id, :number, :name, :email, :mobile, :outbound_caller_id, :language, :timezone,
			:enabled, :ring_timeout_seconds, :voicemail_enabled, :voicemail_pin_hash, :sip_username,
			:sip_password_sealed, :hide_from_directory, :call_permissions, :emergency_callback_number, :sip_digest_algorithms,
			:name_prompt_id, :no_answer_call_plan_id, :version, :created_at, :updated_at)`, row)
		return extensionConflict(ctx, tx, err, e)
	})
}

// GetExtension loads one extension.
func (db *DB) GetExtension(ctx context.Context, id core.ExtensionID) (*core.Extension, error) {
	var r extensionRow
	err := db.r.GetContext(ctx, &r, `SELECT `+extensionColumns+` FROM extensions WHERE id = ?`, id)
	if err != nil {
		return nil, notFound(err, "extension", id)
	}
	return db.rowToExtension(&r)
}

// ExtensionBySIPUsername loads the extension a SIP user name belongs to.
func (db *DB) ExtensionBySIPUsername(ctx context.Context, username string) (*core.Extension, error) {
	var r extensionRow
	err := db.r.GetContext(ctx, &r, `SELECT `+extensionColumns+` FROM extensions WHERE sip_username = ?`, username)
	if err != nil {
		return nil, notFound(err, "extension with sip username", username)
	}
	return db.rowToExtension(&r)
}

// ExtensionByNumber loads the extension with the given number.
func (db *DB) ExtensionByNumber(ctx context.Context, number string) (*core.Extension, error) {
	var r extensionRow
	err := db.r.GetContext(ctx, &r, `SELECT `+extensionColumns+` FROM extensions WHERE number = ?`, number)
	if err != nil {
		return nil, notFound(err, "extension", number)
	}
	return db.rowToExtension(&r)
}

// ListExtensions returns one page of extensions ordered by number.
func (db *DB) ListExtensions(ctx context.Context, f core.ExtensionFilter, p core.PageRequest) (core.Page[*core.Extension], error) {
	limit := p.Size()
	q := `SELECT ` + extensionColumns + ` FROM extensions WHERE 1=1`
	var args []any
	if p.Cursor != "" {
		var after string
		if err := core.DecodeCursor(p.Cursor, &after); err != nil {
			return core.Page[*core.Extension]{}, err
		}
		q += ` AND number > ?`
		args = append(args, after)
	}
	if f.NumberPrefix != "" {
		q += ` AND number LIKE ? ESCAPE '\'`
		args = append(args, likePattern("", f.NumberPrefix, "%"))
	}
	if f.Query != "" {
		q += ` AND (name LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\')`
		pat := likePattern("%", f.Query, "%")
		args = append(args, pat, pat)
	}
	q += ` ORDER BY number LIMIT ?`
	args = append(args, limit+1)
	var rows []extensionRow
	if err := db.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return core.Page[*core.Extension]{}, fmt.Errorf("list extensions: %w", err)
	}
	rows, next := core.TrimPage(rows, limit, func(r extensionRow) []any { return []any{r.Number} })
	page := core.Page[*core.Extension]{Items: make([]*core.Extension, 0, len(rows))}
	page.NextCursor = next
	for i := range rows {
		e, err := db.rowToExtension(&rows[i])
		if err != nil {
			return core.Page[*core.Extension]{}, err
		}
		page.Items = append(page.Items, e)
	}
	return page, nil
}

// UpdateExtension writes e over the stored row if its version is still
// expectVersion, and appends events with it.
func (db *DB) UpdateExtension(ctx context.Context, e *core.Extension, expectVersion int64, events ...core.Event) error {
	return db.commitWithEvents(ctx, events, func(tx *sqlx.Tx) error {
		var current int64
		if err := tx.GetContext(ctx, &current, `SELECT version FROM extensions WHERE id = ?`, e.ID); err != nil {
			return notFound(err, "extension", e.ID)
		}
		if current != expectVersion {
			return fmt.Errorf("extension %s is at version %d, not %d: %w", e.ID, current, expectVersion, core.ErrPrecondition)
		}
		if err := extensionRefsValid(ctx, tx, e); err != nil {
			return err
		}
		row := db.extensionToRow(e)
		row.Version = current + 1
		_, err := tx.NamedExecContext(ctx, `UPDATE extensions SET
			number = :number, name = :name, email = :email, mobile = :mobile,
			outbound_caller_id = :outbound_caller_id, language = :language, timezone = :timezone,
			enabled = :enabled, ring_timeout_seconds = :ring_timeout_seconds,
			voicemail_enabled = :voicemail_enabled, voicemail_pin_hash = :voicemail_pin_hash,
			sip_username = :sip_username, sip_password_sealed = :sip_password_sealed,
			hide_from_directory = :hide_from_directory, call_permissions = :call_permissions,
			emergency_callback_number = :emergency_callback_number, sip_digest_algorithms = :sip_digest_algorithms,
			name_prompt_id = :name_prompt_id, no_answer_call_plan_id = :no_answer_call_plan_id, version = :version, updated_at = :updated_at
			WHERE id = :id`, row)
		if err != nil {
			return extensionConflict(ctx, tx, err, e)
		}
		e.Version = row.Version
		return nil
	})
}

// DeleteExtension removes an extension and, through the foreign key, its
// member API keys, and appends events with it.
func (db *DB) DeleteExtension(ctx context.Context, id core.ExtensionID, events ...core.Event) error {
	return db.commitWithEvents(ctx, events, func(tx *sqlx.Tx) error {
		var routed []string
		if err := tx.SelectContext(ctx, &routed, `SELECT number FROM numbers WHERE route_extension_id = ? ORDER BY number LIMIT 20`, id); err != nil {
			return err
		}
		if len(routed) > 0 {
			return &core.InUseError{Resource: "extension " + string(id), UsedBy: "the routes of numbers", Refs: routed}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM extensions WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete extension %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("extension %s: %w", id, core.ErrNotFound)
		}
		return nil
	})
}
