"""Metric cards: which differences make scores incomparable."""

import copy

from imagegen.metrics.card import card_differences, card_notes, size_warnings


def _card():
    return {
        "metrics": ["fid", "kid"],
        "weights_sha256": "abc",
        "resize": "bilinear",
        "input_size": 299,
        "input_range": "v/128-1",
        "n_real": 10000,
        "n_generated": 10000,
        "reference": {"name": "mnist", "split": "test", "fingerprint": "f1", "source": "x"},
        "params": {"kid": {"subsets": 100, "subset_size": 1000}},
        "seed": 0,
        "imagegen_version": "0.1.0",
        "torch_version": "2.13.0",
    }


def test_same_cards_are_comparable():
    assert card_differences(_card(), _card()) == []


def test_each_relevant_difference_is_listed():
    a, b = _card(), _card()
    b["resize"] = "clean"
    b["n_generated"] = 5000
    b["reference"]["fingerprint"] = "f2"
    b["params"]["kid"]["subsets"] = 10
    diffs = card_differences(a, b)
    assert len(diffs) == 4
    assert any(d.startswith("resize") for d in diffs)
    assert any("reference.fingerprint" in d for d in diffs)
    assert any(d.startswith("params.kid") for d in diffs)


def test_seed_and_versions_are_notes_not_differences():
    a, b = _card(), copy.deepcopy(_card())
    b["seed"], b["imagegen_version"] = 1, "0.2.0"
    assert card_differences(a, b) == []
    assert len(card_notes(a, b)) == 2


def test_metric_settings_only_clash_for_metrics_both_report():
    a, b = _card(), _card()
    b["params"] = {"pr": {"k": 3}}
    assert card_differences(a, b) == []


def test_size_warnings_only_for_biased_metrics():
    assert size_warnings(100, 100, ["kid"]) == []
    assert len(size_warnings(100, 5000, ["fid"])) == 1
