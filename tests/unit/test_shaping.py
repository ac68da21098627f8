import json

from tap_daktela.dates import LocalTimeConverter
from tap_daktela.flattening import as_text_schema, flatten_schema
from tap_daktela.shaping import RecordShaper
from tap_daktela.streams import load_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": ["integer"]},
        "title": {"type": ["string", "null"]},
        "important": {"type": ["boolean", "null"]},
        "edited": {"type": ["string", "null"], "format": "date-time"},
        "user": {
            "type": ["object", "null"],
            "properties": {
                "name": {"type": ["string", "null"]},
                "created": {"type": ["string", "null"], "format": "date-time"},
                "role": {"type": ["object", "array", "null"]},
            },
        },
        "customFields": {"type": ["object", "array", "null"]},
        "statuses": {"type": ["array", "null"], "items": {}},
    },
}


def shaper():
    return RecordShaper(SCHEMA, LocalTimeConverter("Europe/Prague"))


def test_shaper_projects_converts_and_coerces():
    raw = {
        "name": "12",
        "title": 5,
        "important": "0",
        "edited": "2024-04-12 14:39:42",
        "user": {"name": "jan", "created": "2024-01-01 00:00:00", "role": {"name": "admin"}, "extra": 1},
        "customFields": [],
        "statuses": [{"name": "s1"}],
        "_sys": {"hash": None, "model": "tickets"},
    }
    assert shaper()(raw) == {
        "name": 12,
        "title": "5",
        "important": False,
        "edited": "2024-04-12T14:39:42+02:00",
        "user": {"name": "jan", "created": "2024-01-01T00:00:00+01:00", "role": {"name": "admin"}},
        "customFields": {},
        "statuses": [{"name": "s1"}],
    }


def test_shaper_turns_php_empty_array_object_into_null():
    assert shaper()({"name": 1, "user": []})["user"] is None


def test_flat_schema_columns_come_from_the_schema_only():
    flat = flatten_schema(SCHEMA)
    assert list(flat["properties"]) == [
        "name",
        "title",
        "important",
        "edited",
        "user_name",
        "user_created",
        "user_role",
        "customFields",
        "statuses",
    ]
    assert flat["properties"]["user_created"] == {"type": ["string", "null"], "format": "date-time"}
    assert flat["properties"]["user_role"]["type"] == ["string", "null"]
    assert flat["properties"]["name"]["type"] == ["integer", "null"]


def flat_shaper():
    return RecordShaper(SCHEMA, LocalTimeConverter("Europe/Prague"), flat=True)


def test_flat_records_hold_json_for_deeper_values_and_leave_nulls_out():
    flat = flat_shaper()(
        {
            "name": "1",
            "edited": "2024-01-05 08:00:00",
            "user": {"name": "jan", "created": "2024-07-01 10:00:00", "role": {"title": 'Ad"min', "n": [1]}},
            "customFields": {"email": ["a@b.cz"]},
            "statuses": [],
            "_sys": {"model": "x"},
        }
    )
    columns = list(flatten_schema(SCHEMA)["properties"])
    assert set(flat) <= set(columns)
    assert list(flat) == [column for column in columns if column in flat]  # schema order
    assert flat["name"] == 1
    assert flat["edited"] == "2024-01-05T08:00:00+01:00"
    assert flat["user_created"] == "2024-07-01T10:00:00+02:00"
    assert json.loads(flat["user_role"]) == {"title": 'Ad"min', "n": [1]}
    assert json.loads(flat["customFields"]) == {"email": ["a@b.cz"]}
    assert flat["statuses"] == "[]"
    assert "title" not in flat and "important" not in flat
    assert flat_shaper()({"name": 2, "user": None}) == {"name": 2}
    assert flat_shaper()({"name": 3, "user": []}) == {"name": 3}


def test_emitted_flat_schema_declares_datetimes_as_text():
    emitted = as_text_schema(flatten_schema(SCHEMA))
    assert emitted["properties"]["edited"] == {"type": ["string", "null"]}
    assert emitted["properties"]["name"] == {"type": ["integer", "null"]}


def test_every_generated_schema_flattens_to_unique_valid_column_names():
    from tap_daktela.endpoints import ENDPOINTS

    for endpoint in ENDPOINTS:
        columns = list(flatten_schema(load_schema(endpoint.name))["properties"])
        assert len(columns) == len(set(columns)), endpoint.name
        assert all(column.replace("_", "a").isalnum() for column in columns), endpoint.name
        assert endpoint.primary_key in columns


# --- custom fields, references, internals ------------------------------------------------------------------------

CF_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": ["string"]},
        "user": {
            "type": ["object", "null"],
            "properties": {"name": {"type": ["string", "null"]}, "title": {"type": ["string", "null"]}},
        },
        "statuses": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
        "options": {"type": ["object", "array", "null"]},
        "customFields": {
            "type": ["object", "null"],
            "properties": {
                "vin": {"type": ["string", "null"]},
                "number": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
            },
        },
    },
}


def cf_shaper(flat=False, selected=None):
    from tap_daktela.references import references

    return RecordShaper(
        CF_SCHEMA, LocalTimeConverter("Europe/Prague"), selected, flat=flat, references=references("tickets")
    )


def test_custom_fields_single_multi_unset():
    record = {
        "name": "r1",
        "customFields": {"vin": ["WVW123"], "number": ["+420 1", None, "+420 2"], "extra": ["x"]},
    }
    assert cf_shaper()(record)["customFields"] == {"vin": "WVW123", "number": ["+420 1", "+420 2"]}
    for unset in ([], [None], None):
        shaped = cf_shaper()({"name": "r1", "customFields": {"vin": unset, "number": unset}})
        # single-valued: null; multi-valued: `[]`, the list Daktela sends for "unset"
        assert shaped["customFields"] == {"vin": None, "number": []}
    assert cf_shaper()({"name": "r1", "customFields": []})["customFields"] == {}  # PHP's [] for "none"


def test_custom_fields_flat_cells():
    flat = cf_shaper(flat=True)({"name": "r1", "customFields": {"vin": ["WVW123"], "number": ["a", "b"]}})
    assert flat == {"name": "r1", "customFields_vin": "WVW123", "customFields_number": '["a","b"]'}
    for unset in ([], [None], None):
        flat = cf_shaper(flat=True)({"name": "r1", "customFields": {"vin": unset, "number": unset}})
        assert flat == {"name": "r1"}  # empty cells


def test_custom_fields_selected_one_by_one():
    def selected(crumb):
        return crumb != ("customFields", "number")

    assert cf_shaper(selected=selected)({"name": "r", "customFields": {"vin": ["1"], "number": ["2"]}}) == {
        "name": "r",
        "customFields": {"vin": "1"},
    }


def test_references_become_keys():
    record = {
        "name": "r1",
        "user": {"name": "jan", "title": "Jan", "role": {"name": "admin"}, "_sys": {"model": "users"}},
        "statuses": [{"name": "s1", "title": "Open", "_sys": {}}, {"name": "s2"}],
    }
    assert cf_shaper()(record) == {"name": "r1", "user": {"name": "jan", "title": "Jan"}, "statuses": ["s1", "s2"]}
    flat = cf_shaper(flat=True)(record)
    assert flat == {"name": "r1", "user_name": "jan", "user_title": "Jan", "statuses": '["s1","s2"]'}
    assert cf_shaper()({"name": "r1", "user": [], "statuses": []}) == {"name": "r1", "user": None, "statuses": []}


def test_internals_and_credentials_removed_at_every_depth():
    record = {
        "name": "r1",
        "options": {"a": {"_sys": {"model": "x"}, "_rdata": None, "b": [{"_guiData": [], "oauthToken": "t0k"}]}},
    }
    assert cf_shaper()(record)["options"] == {"a": {"b": [{}]}}
    assert json.loads(cf_shaper(flat=True)(record)["options"]) == {"a": {"b": [{}]}}
    assert cf_shaper()({"name": "r", "options": []})["options"] is None  # [] where an object is expected


def test_undeclared_fields_are_noted_not_emitted():
    shaper = cf_shaper()
    record = {"name": "r", "isNew": 1, "_sys": {}, "customFields": {"vin": ["1"], "color": ["red"]}}
    shaper.note_undeclared(record)
    assert shaper.undeclared == {"isNew", "customFields.color"}
    assert "isNew" not in shaper(record)


# --- references at every depth (nested_objects: keys) -------------------------------------------------------------

SMS_USER = {"name": "jan", "title": "Jan", "email": "jan@firma.cz", "role": {"name": "admin", "_sys": {}}}


def sms_shaper(keys=True, flat=False, schema_mode=None):
    from tap_daktela.references import all_references, schema_for_mode

    mode = schema_mode or ("keys" if keys else "full")
    schema = schema_for_mode("activitiesSms", load_schema("activitiesSms"), mode)
    return RecordShaper(
        schema, LocalTimeConverter("Europe/Prague"), flat=flat, references=all_references("activitiesSms"), keys=keys
    )


def sms_record():
    return {
        "name": "sms_1",
        "connector": {
            "name": "smsInbound_1",
            "title": "SMS",
            "user": {**SMS_USER, "_sys": {"model": "users"}},
            "production": {"name": "p", "user": SMS_USER, "accessToken": "t0k3n"},
            "accessToken": "t0k3n",
            "_sys": {"model": "routingSmsInbound"},
        },
        "options": {
            "ticketAllEmails": {"a@b.cz": {"contact": {"name": "c1", "title": "C", "_sys": {"model": "contacts"}}}}
        },
    }


def test_nested_reference_in_a_declared_object_becomes_keys():
    shaped = sms_shaper()(sms_record())
    assert shaped["connector"]["user"] == {"name": "jan", "title": "Jan"}
    assert shaped["connector"]["name"] == "smsInbound_1" and "accessToken" not in shaped["connector"]
    flat = sms_shaper(flat=True)(sms_record())
    assert json.loads(flat["connector_user"]) == {"name": "jan", "title": "Jan"}  # one JSON cell, keys inside
    assert flat["connector_name"] == "smsInbound_1"
    # a bare key where an object is declared, and PHP's []
    assert sms_shaper()({"name": "s", "connector": {"user": "jan"}})["connector"] == {
        "user": {"name": "jan", "title": None}
    }
    assert sms_shaper()({"name": "s", "connector": {"user": []}})["connector"] == {"user": None}
    assert "connector_user" not in sms_shaper(flat=True)({"name": "s", "connector": {"user": []}})


def test_copies_inside_free_form_values_become_keys_by_their_model():
    shaped = sms_shaper()(sms_record())
    # `production` is free-form: its `user` has no `_sys` and no known path, so it is kept (minus credentials)
    production = shaped["connector"]["production"]
    assert production["user"]["email"] == "jan@firma.cz" and "accessToken" not in production
    assert shaped["options"] == {"ticketAllEmails": {"a@b.cz": {"contact": {"name": "c1", "title": "C"}}}}
    flat = sms_shaper(flat=True)(sms_record())
    assert json.loads(flat["options"]) == shaped["options"]


def test_full_mode_keeps_every_copy():
    shaped = sms_shaper(keys=False)(sms_record())
    assert shaped["connector"]["user"]["email"] == "jan@firma.cz" and "_sys" not in shaped["connector"]["user"]
    assert shaped["options"]["ticketAllEmails"]["a@b.cz"]["contact"] == {"name": "c1", "title": "C"}  # no _sys
    flat = sms_shaper(keys=False, flat=True)(sms_record())
    assert json.loads(flat["connector_user"])["role"] == {"name": "admin"}


def test_known_paths_inside_free_form_values():
    """A reference under a free-form value (the schema cannot declare it) is reduced in the value."""
    from tap_daktela.references import Reference
    from tap_daktela.shaping import reference_tree, without_copies

    user = Reference("connector.user", ("users",), False, ("name",), True)
    queues = Reference("connector.ctcQueues", ("queues",), True, ("name",), True)
    tree = reference_tree({"connector.user": user, "connector.ctcQueues": queues})
    value = [{"connector": {"user": SMS_USER, "ctcQueues": [{"name": 1, "title": "Q"}], "x": 1}}]
    assert without_copies(value, tree) == [
        {"connector": {"user": {"name": "jan", "title": "Jan"}, "ctcQueues": [1], "x": 1}}
    ]
    assert without_copies({"_sys": {"model": "routingSmsInbound"}, "a": 1}, None) == {"a": 1}  # no stream: kept
