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
        assert shaped["customFields"] == {"vin": None, "number": None}
    assert cf_shaper()({"name": "r1", "customFields": []})["customFields"] == {}  # PHP's [] for "none"


def test_custom_fields_flat_cells():
    flat = cf_shaper(flat=True)({"name": "r1", "customFields": {"vin": ["WVW123"], "number": ["a", "b"]}})
    assert flat == {"name": "r1", "customFields_vin": "WVW123", "customFields_number": '["a","b"]'}
    unset = cf_shaper(flat=True)({"name": "r1", "customFields": {"vin": [None], "number": []}})
    assert unset == {"name": "r1"}  # empty cells


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
