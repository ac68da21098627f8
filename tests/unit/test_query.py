from urllib.parse import urlencode

from tap_daktela.query import ListQuery, after_key, condition


def test_keyset_condition_on_two_keys():
    assert after_key(("edited", "name"), ("2024-01-01 10:00:00", 7)) == {
        "logic": "or",
        "filters": [
            {"field": "edited", "operator": "gt", "value": "2024-01-01 10:00:00"},
            {
                "logic": "and",
                "filters": [
                    {"field": "edited", "operator": "eq", "value": "2024-01-01 10:00:00"},
                    {"field": "name", "operator": "gt", "value": 7},
                ],
            },
        ],
    }


def test_keyset_condition_on_one_key_is_a_plain_condition():
    assert after_key(("name",), ("abc",)) == {"field": "name", "operator": "gt", "value": "abc"}


def test_params_use_php_bracket_notation():
    query = ListQuery(
        filters=(condition("time", "gte", "2024-01-01 00:00:00"), condition("time", "lt", "2024-02-01 00:00:00")),
        sort=("time", "name"),
        fields=("name", "time", "user.name"),
        skip=2000,
        take=1000,
    )
    assert urlencode(query.params()) == (
        "filter%5Blogic%5D=and"
        "&filter%5Bfilters%5D%5B0%5D%5Bfield%5D=time&filter%5Bfilters%5D%5B0%5D%5Boperator%5D=gte"
        "&filter%5Bfilters%5D%5B0%5D%5Bvalue%5D=2024-01-01+00%3A00%3A00"
        "&filter%5Bfilters%5D%5B1%5D%5Bfield%5D=time&filter%5Bfilters%5D%5B1%5D%5Boperator%5D=lt"
        "&filter%5Bfilters%5D%5B1%5D%5Bvalue%5D=2024-02-01+00%3A00%3A00"
        "&sort%5B0%5D%5Bfield%5D=time&sort%5B0%5D%5Bdir%5D=asc&sort%5B1%5D%5Bfield%5D=name&sort%5B1%5D%5Bdir%5D=asc"
        "&fields%5B0%5D=name&fields%5B1%5D=time&fields%5B2%5D=user.name&skip=2000&take=1000"
    )


def test_no_filter_no_fields():
    assert ListQuery(sort=("name",), take=5).params() == [
        ("sort[0][field]", "name"),
        ("sort[0][dir]", "asc"),
        ("skip", "0"),
        ("take", "5"),
    ]
