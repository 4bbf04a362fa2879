-- +goose Up
ALTER TABLE numbers ADD COLUMN call_plan_id TEXT REFERENCES call_plans(id) ON DELETE RESTRICT;
ALTER TABLE numbers ADD COLUMN moh_class_id TEXT REFERENCES moh_classes(id) ON DELETE RESTRICT;
CREATE INDEX numbers_call_plan ON numbers(call_plan_id);
ALTER TABLE extensions ADD COLUMN name_prompt_id TEXT REFERENCES prompts(id) ON DELETE RESTRICT;
ALTER TABLE extensions ADD COLUMN no_answer_call_plan_id TEXT REFERENCES call_plans(id) ON DELETE RESTRICT;
ALTER TABLE call_records ADD COLUMN plan_path TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE call_records DROP COLUMN plan_path;
ALTER TABLE extensions DROP COLUMN no_answer_call_plan_id;
ALTER TABLE extensions DROP COLUMN name_prompt_id;
DROP INDEX numbers_call_plan;
ALTER TABLE numbers DROP COLUMN moh_class_id;
ALTER TABLE numbers DROP COLUMN call_plan_id;
