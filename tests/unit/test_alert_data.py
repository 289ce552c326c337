"""ingest builds an alert's event data without the Alert model; it must be the model's dump."""

from __future__ import annotations

import json

from cutman.models.alert import Alert, AMAlert, alert_data
from hypothesis import given
from hypothesis import strategies as st

text = st.text(max_size=12)
optional = st.none() | text


@given(status=st.sampled_from(["firing", "resolved"]), labels=st.dictionaries(text, text, max_size=5),
       annotations=st.dictionaries(text, text, max_size=4), starts=optional, ends=optional, url=optional,
       am_fp=optional, fp=text, named=st.booleans())
def test_alert_data_is_the_models_json_dump(status: str, labels: dict[str, str], annotations: dict[str, str],
                                            starts: str | None, ends: str | None, url: str | None,
                                            am_fp: str | None, fp: str, named: bool) -> None:
    if named:
        labels = {**labels, "alertname": "X", "severity": "page"}
        annotations = {**annotations, "summary": "s", "description": "d"}
    am = AMAlert.model_validate({"status": status, "labels": labels, "annotations": annotations, "startsAt": starts,
                                 "endsAt": ends, "generatorURL": url, "fingerprint": am_fp})
    expected = Alert.from_am(am, fingerprint=fp).data()
    got = alert_data(am, fingerprint=fp)
    assert json.dumps(got) == json.dumps(expected)  # same fields, same order, same values
