-- Device-type templates stored through the API (LAVA's
-- scheduler.device_types.set_template): the Jinja2 text by template name,
-- the file name without ".jinja2" (a type's own template carries the
-- type's name; base templates such as "base-uboot" may be stored too, so
-- the name does not reference device_types). Deleting a device type
-- deletes the template of its name in the same transaction (the store's
-- DeleteDeviceType). They are searched before the server's template
-- directory and the templates Basalt ships.
-- Keep in step with ../sqlite/0004_device_templates.sql.

CREATE TABLE device_templates (
    name    TEXT        NOT NULL PRIMARY KEY CHECK (name <> ''),
    text    TEXT        NOT NULL,
    updated TIMESTAMPTZ NOT NULL
);
