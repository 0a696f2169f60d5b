"""The PHI guard: identifiers are found and masked; what records legitimately hold is not."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checks.phi import KEYED, PATTERNS, scan_phi
from ledger.checks.record_file import _quick
from ledger.compactjson import compact_json

PATH = "records/dataset/x/1.0.json"
SSN = "a US Social Security number"
MRN = "a medical record number or patient identifier"
EMAIL = "an e-mail address"
PHONE = "a phone number"
DOB = "an exact date of birth"

# (text, what it looks like, the suspect value that must not be echoed, its masked form)
POSITIVES: list[tuple[str, str, str, str]] = [
    ("Patient 123-45-6789 excluded", SSN, "123-45-6789", "(***-**-**89)"),
    ("ssn 123 45 6789", SSN, "123 45 6789", "(*** ** **89)"),
    ("MRN 12345678", MRN, "12345678", "(******78)"),
    ("MRN: A1234567", MRN, "A1234567", "(******67)"),
    ("mrn#00123456", MRN, "00123456", "(******56)"),
    ("medical record number 1234567", MRN, "1234567", "(*****67)"),
    ("Medical record no. 7654321", MRN, "7654321", "(*****21)"),
    ("patient id 1234567", MRN, "1234567", "(*****67)"),
    ("Patient_ID=P-000123", MRN, "P-000123", "(*-****23)"),
    ("write to jane.doe@example.org", EMAIL, "jane.doe@example.org", "(****.***@*******.*rg)"),
    ("mailto:J.Smith+ehr@hospital.nhs.uk", EMAIL, "J.Smith+ehr@hospital.nhs.uk", "uk)"),
    ("lab.jane@example.org", EMAIL, "lab.jane@example.org", "(***.****@*******.*rg)"),
    ("ai-labrat@example.org", EMAIL, "ai-labrat@example.org", "(**-******@*******.*rg)"),
    ("call 256-512-1023", PHONE, "256-512-1023", "(***-***-**23)"),
    ("call (555) 123-4567", PHONE, "(555) 123-4567", "((***) ***-**67)"),
    ("call 555-123-4567", PHONE, "555-123-4567", "(***-***-**67)"),
    ("+1 555 123 4567", PHONE, "+1 555 123 4567", "(+* *** *** **67)"),
    ("1-800-555-1234", PHONE, "1-800-555-1234", "(*-***-***-**34)"),
    ("tel: +44 20 7946 0958", PHONE, "+44 20 7946 0958", "(+** ** **** **58)"),
    ("+49 30 1234567", PHONE, "+49 30 1234567", "(+** ** *****67)"),
    ("DOB: 1956-03-12", DOB, "1956-03-12", "(****-**-12)"),
    ("d.o.b. 12/03/1956", DOB, "12/03/1956", "(**/**/**56)"),
    ("born 03/12/1956", DOB, "03/12/1956", "(**/**/**56)"),
    ("Born on March 12, 1956", DOB, "March 12, 1956", "(***** **, **56)"),
    ("date of birth 12 March 1956", DOB, "12 March 1956", "(** ***** **56)"),
    ("birth date: 12th Mar 1956", DOB, "12th Mar 1956", "(**** *** **56)"),
    ("birthdate=1956-3-2", DOB, "1956-3-2", "(****-*-2)"),
]


@pytest.mark.parametrize(("text", "kind", "suspect", "masked"), POSITIVES)
def test_each_identifier_is_found_and_masked(
    text: str, kind: str, suspect: str, masked: str
) -> None:
    found = scan_phi({"notes": ["fine", {"text": text}]}, PATH)
    assert [(f.code, f.path, f.pointer) for f in found] == [("L501", PATH, "/notes/1/text")]
    assert found[0].message.startswith(f"value looks like {kind} (")
    assert found[0].message.endswith(masked)
    assert suspect not in found[0].message
    assert suspect not in found[0].line()


def test_the_mask_keeps_only_the_last_two_characters() -> None:
    (problem,) = scan_phi({"a": "123-45-6789"}, PATH)
    assert problem.message == "value looks like a US Social Security number (***-**-**89)"


def test_one_string_can_hold_several_kinds() -> None:
    found = scan_phi({"a": "MRN 12345678, jane@example.org, (555) 123-4567"}, PATH)
    kinds = sorted(f.message.split(" (")[0] for f in found)
    assert kinds == sorted(f"value looks like {kind}" for kind in (EMAIL, MRN, PHONE))
    assert {f.pointer for f in found} == {"/a"}


def test_keys_are_scanned_and_reported_at_their_object() -> None:
    # The key's own pointer would spell out the suspect, so the finding points at the object.
    found = scan_phi({"sites": {"jane.doe@example.org": 3, "DOB 1956-03-12": 1}}, PATH)
    assert [(f.pointer, f.message) for f in found] == [
        ("/sites", f"a key looks like {EMAIL} (****.***@*******.*rg)"),
        ("/sites", f"a key looks like {DOB} (****-**-12)"),
    ]


@pytest.mark.parametrize("key", ["dob", "DOB", "date_of_birth", "Date-Of-Birth", "birthDate",
                                 "birth_date", "birthday", "patient_dob"])  # fmt: skip
@pytest.mark.parametrize("date", ["1956-03-12", "03/12/1956", "12 March 1956", "12.03.56"])
def test_any_date_under_a_birth_date_key(key: str, date: str) -> None:
    (problem,) = scan_phi({"cohort": {key: date}}, PATH)
    assert problem.pointer == f"/cohort/{key}"
    assert problem.message.startswith(f"value looks like {DOB} (")
    assert problem.message.endswith(f"{date[-2:]}), under a date-of-birth key")


def test_dates_nested_below_a_birth_date_key() -> None:
    # The youngest patient's date of birth is still one patient's date of birth.
    found = scan_phi({"dob": {"range": ["1920-01-01", "2005-12-31"], "format": "YYYY-MM-DD"}}, PATH)
    assert [f.pointer for f in found] == ["/dob/range/0", "/dob/range/1"]


def test_a_birth_date_key_without_a_date_is_fine() -> None:
    doc = {"date_of_birth": {"not_applicable": "dates removed (HIPAA Safe Harbor)"}}
    assert scan_phi(doc, PATH) == []


def test_birth_keyword_and_key_give_one_finding() -> None:
    (problem,) = scan_phi({"dob": "DOB: 1956-03-12"}, PATH)
    assert problem.message == f"value looks like {DOB} (****-**-12)"


@pytest.mark.parametrize("key", ["mrn", "MRN", "patient_id", "PatientID", "ssn",
                                 "medical_record_number", "patient-identifier"])  # fmt: skip
def test_identifiers_under_identifier_keys(key: str) -> None:
    found = scan_phi({key: 1234567, "list": {key: ["x", "A-00042"]}}, PATH)
    assert [f.pointer for f in found] == [f"/{key}", f"/list/{key}/1"]
    assert all(f.message.endswith("under a patient-identifier key") for f in found)


def test_identifier_keys_do_not_flag_small_numbers_or_other_id_keys() -> None:
    assert scan_phi({"patient_id": "pseudonymised", "mrn": 12, "id": "run-20190101"}, PATH) == []
    assert scan_phi({"patient_id": True}, PATH) == []


# What records legitimately hold: none of these may be flagged, as a value or as a key.
NEGATIVES = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # sha256
    "d41d8cd98f00b204e9800998ecf8427e",  # md5
    "d41d8cd98f00b204e9800998ecf8427e.dir",  # DVC directory md5
    "9fceb02d0ae598e95dc970b74767f19372d61af8",  # git commit
    "1.0",
    "2.10.3",
    "1.0.0-rc.1+20130313144700",
    "2019-01-01",
    "collection period 2019-01-01 to 2021-12-31",
    "2019-01-01T12:30:45Z",
    "2019\u20132021",  # an en dash
    "2019-2021",
    "ages 18-90",
    "18-65 years",
    "12345",
    "n = 12345 patients",
    "12,345",
    "1,234,567 encounters",
    "0.734",
    "AUROC 0.81 (95% CI 0.77-0.85)",
    "0.71-0.83",
    "data/cohort.csv",
    "data/cohort.csv.dvc",
    "https://www.hl7.org/fhir/",
    "https://www.hhs.gov/hipaa/for-professionals/privacy/index.html",
    "lr=0.001 batch_size=32 epochs=100 seed=42",
    "hidden layers 256 512 1024",
    "layer sizes 256-512-1024",
    "encoder 512-256-128, decoder 256-512-4096",
    "contact ai-lab@example.org",
    "data-team@hospital.example, security@hospital.example",
    "no-reply@registry.example.org; research.office@nhs.net",
    "A41.9",
    "ICD-10 E11.9, I10, A41.9",
    "123e4567-e89b-12d3-a456-426614174000",
    "192.168.1.10",
    "+0.05 vs baseline",
    "000-00-0000",  # a redaction placeholder, never an issued SSN
    "git@github.com:org/repo.git",
    "ssh://git@dvc.example.org/remote",
    "torch@2.1.0",
    "born after 1990-01-01",
    "patients born between 1950 and 1960",
    "birth year 1956",
    "date of birth: YYYY-MM-DD, shifted",
    "newborn cohort 2019-05-01",
    "dobutamine 2019-01-01",
    "patient ids are salted sha256 hashes",
    "patient numbers 12,345",
    "MRNs removed",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_legitimate_record_content_is_not_flagged(text: str) -> None:
    assert scan_phi({"value": text, text: {"nested": [text]}}, PATH) == []


def test_numbers_and_other_types_are_not_scanned() -> None:
    doc = {"auc": 0.81, "n": 123456789, "ok": True, "missing": None, "hp": {"lr": 1e-3}}
    assert scan_phi(doc, PATH) == []


def test_a_long_string_scans_quickly() -> None:
    # Patterns anchor their starts, so a long run without a match is one pass, not quadratic.
    text = "a" * 200_000 + "@" + "1-" * 50_000 + "+" + "1 " * 50_000
    assert scan_phi({"x": text}, PATH) == []
    roles = "ai-" * 60_000 + "x " + "lab-" * 60_000 + "@ " + "256-512-" * 30_000
    assert scan_phi({"x": roles}, PATH) == []


def test_the_tables_are_named_and_described() -> None:
    assert [p.name for p in PATTERNS] == ["ssn", "mrn", "email", "phone", "dob"]
    assert [k.name for k in KEYED] == ["date-of-birth", "patient-identifier"]
    assert all(p.description.startswith(("a ", "an ")) for p in PATTERNS)


_HEX = st.binary(min_size=1, max_size=64)
_DIGEST = st.builds(
    lambda data, algo, upper, suffix: (
        (
            hashlib.new(algo, data).hexdigest().upper()
            if upper
            else hashlib.new(algo, data).hexdigest()
        )
        + suffix
    ),
    _HEX,
    st.sampled_from(["sha256", "md5", "sha1"]),
    st.booleans(),
    st.sampled_from(["", ".dir"]),
)
_PART = st.integers(min_value=0, max_value=10**6).map(str)
_VERSION = st.builds(
    lambda parts, pre, build: ".".join(parts) + pre + build,
    st.lists(_PART, min_size=1, max_size=4),
    st.sampled_from(["", "-rc.1", "-alpha", "-beta.2", "-dev0"]),
    st.sampled_from(["", "+build.5", "+20130313144700", "+sha.5114f85"]),
)


@settings(max_examples=300, deadline=None)
@given(value=_DIGEST | _VERSION, prefix=st.sampled_from(["", "v", "version ", "sha256:", "md5 "]))
def test_digests_and_versions_are_never_phi(value: str, prefix: str) -> None:
    text = prefix + value
    assert scan_phi({"v": text, text: [text]}, PATH) == []


_COUNT = st.integers(min_value=0, max_value=10**9)
_METRIC = st.floats(min_value=0, max_value=1, allow_nan=False).map(lambda x: f"{x:.3f}")
_PLAIN = st.one_of(
    st.dates().map(str),  # a collection date, without a birth keyword
    st.builds("{}-{}".format, _COUNT, _COUNT),  # age and count ranges
    st.builds("{}-{}".format, _METRIC, _METRIC),  # metric intervals
    _COUNT.map("{:,}".format),  # thousands separators
)


@settings(max_examples=300, deadline=None)
@given(value=_PLAIN)
def test_dates_counts_and_ranges_alone_are_never_phi(value: str) -> None:
    assert scan_phi({"collection_period": value, "n": {value: value}}, PATH) == []


_plain_text = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters='"\\'), max_size=6
) | st.sampled_from([":", ":ssn", ",", '":', "patient_id", ""])
_json_values = st.recursive(
    _plain_text | st.integers() | st.booleans() | st.none(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_plain_text, inner, max_size=4),
    max_leaves=12,
)


def _strings_and_keys(value: object) -> tuple[list[str], list[str]]:
    """Every string of ``value`` (keys included) and its keys, in compact JSON's order."""
    strings: list[str] = []
    keys: list[str] = []

    def walk(item: object) -> None:
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, list):
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            for key in sorted(item):
                strings.append(key)
                keys.append(key)
                walk(item[key])

    walk(value)
    return strings, keys


@settings(max_examples=300, derandomize=True)
@given(_json_values)
def test_the_quick_check_reads_every_string_and_key_off_compact_json(value: object) -> None:
    """The pre-check that lets most records skip the full PHI scan sees exactly the strings
    and keys the scan would (a key search out of step with the strings missed some)."""
    compact = compact_json(value)
    expected = _strings_and_keys(value)
    assert _quick(compact) == (expected if "\\" not in compact else None)
