"""The CloudFormation-aware YAML loader."""

from __future__ import annotations

import pytest

from reviewbot.discovery import cfnyaml


def test_short_tags_become_the_long_form():
    doc = cfnyaml.load_yaml(
        "a: !Ref Param\n"
        "b: !GetAtt Role.Arn\n"
        "c: !Sub 'arn:${AWS::Region}'\n"
        "d: !Join ['', [a, !Ref B]]\n"
        "e: !If [Cond, !GetAtt [X, Y], !Ref AWS::NoValue]\n"
        "f: !Condition IsProd\n"
    )
    assert doc == {
        "a": {"Ref": "Param"},
        "b": {"Fn::GetAtt": ["Role", "Arn"]},
        "c": {"Fn::Sub": "arn:${AWS::Region}"},
        "d": {"Fn::Join": ["", ["a", {"Ref": "B"}]]},
        "e": {"Fn::If": ["Cond", {"Fn::GetAtt": ["X", "Y"]}, {"Ref": "AWS::NoValue"}]},
        "f": {"Condition": "IsProd"},
    }


def test_mappings_remember_key_lines():
    doc = cfnyaml.load_yaml("top: 1\nResources:\n\n  Fn:\n    Type: x\n  Other: {Type: y}\n")
    assert isinstance(doc, cfnyaml.LineDict)
    assert doc.line_of("Resources") == 2
    assert doc["Resources"].line_of("Fn") == 4
    assert doc["Resources"].line_of("Other") == 6
    assert cfnyaml.line_of({"plain": 1}, "plain", 7) == 7


def test_merge_keys_still_work():
    doc = cfnyaml.load_yaml("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n")
    assert doc["child"] == {"x": 1, "y": 2}


def test_unsafe_tags_are_not_constructed():
    with pytest.raises(cfnyaml.LoadError):
        cfnyaml.load_yaml("a: !!python/object/apply:os.system ['echo hi']\n")


def test_errors_carry_the_line():
    with pytest.raises(cfnyaml.LoadError) as err:
        cfnyaml.load_yaml("a: 1\nb: [2\nc: 3\n")
    assert err.value.line == 3 and err.value.message.startswith("invalid YAML")
    with pytest.raises(cfnyaml.LoadError) as err:
        cfnyaml.load_json('{\n  "a": 1,\n  "b": \n}\n')
    assert err.value.line == 4 and err.value.message.startswith("invalid JSON")


def test_json_with_tabs_falls_back_to_the_json_parser():
    assert cfnyaml.load_json('{\n\t"a":\t{"b": [1, 2]}\n}') == {"a": {"b": [1, 2]}}
