"""``ResourceGuard``: fhir.resources' verdict on a resource, one full round trip per shape.

It decides exactly what ``roundtrip.round_trip`` decides (fhir.resources reads the resource,
``model_dump_json`` -> ``model_validate_json`` gives the same model, and the dump equals the
input: nothing dropped or rewritten) and returns the same dump. The round trip costs
milliseconds (pydantic builds a model per element, fhir_core serializes each in Python); a
ledger Bundle holds tens of thousands of resources that differ in their values, not their form.

**Design.** A resource is walked once, guided by the fhir.resources classes of its version. Each
key must be a field alias of its element's class (or ``resourceType``); a field is either a
*primitive* (its annotation, e.g. ``Optional[Annotated[str, Code()]]``, is what pydantic
validates it with) or an *element* (the fhir_core ``FhirBase`` type in its annotation names the
class; for ``ResourceType`` fields, ``resourceType`` does). The walk yields

- the **shape**: per object its class, keys (in input order) and, per key, the JSON type of a
  primitive, the shape of an object, the *set* of item shapes of an array (so arrays of any
  length share a shape when their items have shapes seen before), or the ``resourceType``;
  shapes are interned as small integers;
- each primitive value's **verdict and output**, from ``_Primitive`` (below);
- the **output**: each object's keys in the order ``FHIRAbstractModel._fhir_iter`` writes them
  (``resourceType``, then ``elements_sequence()``, each ``_x`` extension after its ``x``);
- the objects holding a string ``reference`` (the Bundle rules resolve them), with their paths.

Anything the walk does not model (an unknown key, ``fhir_comments``, a Python type that is not
exactly a JSON type, a non-object where an element belongs, a primitive value it cannot vouch
for) makes it give up, and the resource gets the full round trip, whose verdict and message
stand. A shape is *trusted* once a resource of that shape passed the full round trip, on its own
and as ``Bundle.entry.resource`` (where ``check_bundle`` puts it), and the walk's output equals
the dump byte for byte after ``json.dumps``. A later resource whose walk completes with a trusted
shape passes without a round trip, and its output is the walk's.

**Primitive values.** ``_Primitive`` holds a ``pydantic.TypeAdapter`` of the field's own
annotation (fields carry no other metadata, so this is the schema pydantic applies inside the
model) and does to one value what fhir.resources does: validate it in python mode (as
``model_validate`` does), write it with fhir_core's own ``_serialize_primitive_value`` (integral
decimals become ``int``, others ``float``; datetimes stay datetimes) and pydantic's JSON encoder,
``json.loads`` it. It passes when validation succeeds without yielding ``None``, the output
equals the input as ``difference`` compares, and validating the output again writes the same
value: in python mode (``model_validate_json`` re-reads every element below a resource from a
dict) and, for a resource's own fields, in JSON mode too. Two steps are skipped when they are
identities: re-validating an output that is the input itself (same type and value), and encoding
and decoding a scalar written as itself (``_as_is``). Verdicts are cached per JSON type and value
(so ``1``, ``1.0`` and ``True`` never share one), in bounded caches.

**Soundness.** These are all the decisions fhir.resources (fhir_core 1.1) makes, each covered:

1. per field: pydantic validates the value with the field's schema. For a primitive that is the
   annotation the ``TypeAdapter`` holds; values are validated independently of each other and
   of their position (array items one by one). For an element, fhir_core's ``FhirBase``
   validator takes a dict (recursing), or parses a *string* as JSON, or takes a model: the walk
   accepts dicts only. For ``ResourceType`` it picks the class by ``resourceType``: in the shape.
2. model validators: ``reject_null_complex_elements`` (nulls in element arrays: the walk refuses
   them), ``_validate_required_primitive_elements`` and ``_validate_one_of_many`` (which fields
   are not ``None``: the keys present and JSON nulls, in the shape, since a checked value never
   validates to ``None``), ``FHIRPrimitiveExtension``'s "id, extension or comments" (keys and
   nulls), ``extra="forbid"`` (keys), ``__init__``'s ``resourceType`` check (in the shape).
3. writing: which keys are written and in what order depends on the class, the keys, nulls and
   empty arrays (the shape); how a primitive is written depends on its value alone (checked).
   Re-reading the dump: the same per-field argument applied to the output.

So two resources of one shape whose values all pass get one verdict, and the trusted one showed
it is "passes". Values fhir.resources rewrites into equal ones (``1e21`` into
``1000000000000000000000``, ``True`` into ``1`` for an integer) pass, as they always did, and
come out as fhir.resources writes them. ``tests/test_fhir_guard.py`` compares both paths on the
demo Bundles and hypothesis-generated variations, and counts round trips.
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from fhir_core.types import FhirBase, FhirElementOrResourceBase
from fhir_core.utils import is_list_type, is_primitive_type
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import to_json

from ledger.fhir.roundtrip import Model, Unreadable, difference, model_class, round_trip
from ledger.fhir.versions import FhirVersion, fhir_version

Json = dict[str, Any]
Path = tuple[Any, str | int] | None  # (parent path, key or index): built per node, joined rarely
Refs = list[tuple[Path, Json]]
Caches = dict[type, dict[Any, Any]]  # JSON scalar type -> value -> output (or _BAD)

_BAD: Final = object()  # a primitive value the fast path cannot vouch for
_MISS: Final = object()  # not in a cache yet
_CACHE_LIMIT: Final = 1 << 12  # values per type per primitive: codes repeat, uuids and hashes never
_SHAPE_LIMIT: Final = 1 << 16  # interned shapes before starting afresh (bounds memory)
_JSON_SCALARS: Final = (str, int, float, bool, type(None))
_AS_THEY_ARE: Final = frozenset({str, int, float, bool})  # what fhir_core writes unchanged
_LINE_BREAK: Final = re.compile(r"\s*\n\s*")  # fhir_core writes some messages on two lines

# Field kinds, as small ints: the walk dispatches on them for every key.
_LEAF, _LEAVES, _NODE, _NODES, _RESOURCE, _RESOURCES, _TYPE = range(7)


class FhirMappingError(Exception):
    """ledger built FHIR that breaks a rule: a bug in the mapping, never the user's input."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        super().__init__(f"the FHIR Bundle failed ledger's guard: {shown}")
        self.problems = problems

    def __reduce__(self) -> tuple[type[FhirMappingError], tuple[list[str]]]:
        # Raised in a worker process, it crosses to the parent pickled: keep the problems.
        return type(self), (self.problems,)


class _Primitive:
    """One FHIR primitive type as fhir.resources validates, writes and re-reads its values."""

    def __init__(self, annotation: Any, owner: Model, info: FieldInfo) -> None:
        # The adapter's compiled validator: the schema pydantic applies to this field.
        validator = TypeAdapter(annotation).validator
        self._validate_python = validator.validate_python
        self._validate_json = validator.validate_json
        # fhir_core writes primitives with this method, not with the annotation's serializer
        # (which would write every decimal as a float); it only needs the field's metadata.
        # It returns a value of exactly one of ``_AS_THEY_ARE`` as it is (it converts lists,
        # bytes, UUIDs and decimals), so those skip the call: most values are strings.
        write = owner.model_construct()._serialize_primitive_value
        self._serialize: Callable[[Any], Any] = lambda value: (
            value if type(value) in _AS_THEY_ARE else write(value, info)
        )
        self.caches: tuple[Caches, Caches] = (
            {kind: {} for kind in _JSON_SCALARS},
            {kind: {} for kind in _JSON_SCALARS},
        )

    def check(self, value: Any, top: bool) -> Any:
        """``value`` as fhir.resources writes it, or ``_BAD``; ``top``: a resource's own field."""
        cache = self.caches[top].get(type(value))
        if cache is None:  # not a JSON scalar (a container, a subclass): the round trip decides
            return _BAD
        found = cache.get(value, _MISS)
        if found is _MISS:
            found = self._compute(value, top)
            # -0.0 == 0.0, yet each is written as itself: zeros are never remembered.
            if type(value) is not float or value != 0:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[value] = found
        return found

    def _compute(self, value: Any, top: bool) -> Any:
        serialize = self._serialize
        try:
            validated = self._validate_python(value)
            if validated is None and value is not None:
                return _BAD  # would change which fields are present: not a per-value matter
            written = serialize(validated)
            if _as_is(value, written):
                out, text = value, None
            else:
                text = to_json(written)
                out = json.loads(text.decode())
                if difference(value, out) is not None:  # the comparison the round trip makes
                    return _BAD
                if not _identical(value, out) and serialize(self._validate_python(out)) != written:
                    return _BAD
            if top and serialize(self._validate_json(text or to_json(written))) != written:
                return _BAD
        except Exception:  # whatever fhir.resources would make of it, the round trip will tell
            return _BAD
        return out


def _as_is(value: Any, written: Any) -> bool:
    """A JSON scalar written as itself, whose JSON text therefore decodes back to it, so the
    encoding and decoding can be skipped: an ASCII string (not any string: fhir_core's ``Url``
    lets a lone surrogate through, which only the JSON encoder refuses), a boolean, an integer
    (JSON integers are exact), a finite float with the same sign (pydantic and ``json`` both use
    the shortest text that reads back as the same float; -0.0 == 0.0 but is written as -0.0)."""
    kind = type(value)
    if kind is not type(written) or value != written:
        return False
    if kind is str:
        return bool(value.isascii())
    if kind is float:
        return math.isfinite(value) and math.copysign(1, value) == math.copysign(1, written)
    return kind is int or kind is bool


def _identical(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b and (type(a) is not float or repr(a) == repr(b))


@dataclass(eq=False)
class _Field:
    """How one key of an element is checked and where fhir.resources writes it."""

    kind: int
    rank: int
    primitive: _Primitive | None = None
    model: Model | None = None  # the element's class (None: the resource type decides)
    plan: _Plan | None = None  # built on first use: the classes refer to each other in cycles
    check: Callable[[Any, bool], Any] = field(init=False)  # the primitive's, bound once

    def __post_init__(self) -> None:
        self.check = self.primitive.check if self.primitive is not None else _refuse


def _refuse(value: Any, top: bool) -> Any:
    return _BAD


@dataclass(eq=False)
class _Plan:
    """The keys one fhir.resources class accepts."""

    cls: Model
    fields: dict[str, _Field] = field(default_factory=dict)
    holds_reference: bool = False


@dataclass(frozen=True)
class Review:
    """fhir.resources' verdict on one resource (or element) and what it writes."""

    problems: tuple[str, ...]
    # As fhir.resources writes it, when it passes.
    resource: Json | None
    # fhir.resources could read it: a problem, if any, is a rewrite, not a validation error.
    readable: bool = True
    # Why it fails inside ``Bundle.entry.resource`` although it passes on its own (else None).
    nested_problem: str | None = None
    # (path, object) of every object holding a string ``reference``, when the walk found them;
    # ``path_text`` renders a path (only needed for a message).
    references: tuple[tuple[Path, Json], ...] | None = None


class ResourceGuard:
    """fhir.resources' verdict on single resources of one FHIR version, fast (see module doc).

    ``full_round_trips`` counts the full fhir.resources round trips it ran (one per new shape,
    plus one per resource the fast path cannot vouch for)."""

    def __init__(self, version: FhirVersion | str, *, trust_shapes: bool = True) -> None:
        self.version = fhir_version(version) if isinstance(version, str) else version
        self.full_round_trips = 0
        # False: every resource gets the full round trip (the reference behaviour, for tests).
        self._trust_shapes = trust_shapes
        self._plans: dict[Model, _Plan] = {}
        self._resource_plans: dict[str, _Plan | None] = {}
        self._primitives: dict[Any, _Primitive] = {}
        self._shapes: dict[tuple[Any, ...], tuple[int, tuple[str, ...] | None]] = {}
        self._trusted: set[tuple[Model, int]] = set()

    @property
    def trusts_shapes(self) -> bool:
        return self._trust_shapes

    def check(self, resource: dict[str, Any]) -> list[str]:
        """Problems with one resource on its own (fhir.resources validity including every
        primitive value, and that fhir.resources would neither drop nor rewrite anything),
        each a one-line string; [] when it passes."""
        if not isinstance(resource, dict):
            return ["not a JSON object"]
        return [_LINE_BREAK.sub(" ", p) for p in self.review(resource).problems]

    def ordered(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource with keys in the order fhir.resources writes them (FHIR element
        order), i.e. equal, byte for byte after json.dumps, to
        json.loads(model.model_dump_json()); ``FhirMappingError`` if it does not pass."""
        review = self.review(resource)
        if review.resource is None:
            raise FhirMappingError(list(review.problems))
        return review.resource

    def review(self, resource: Json) -> Review:
        """Verdict and output together (one walk), for callers that need both."""
        name = resource.get("resourceType")
        plan = self._resource_plan(name) if type(name) is str else None
        return self._review(str(name), resource, plan)

    def review_element(self, name: str, data: Json) -> Review:
        """The same for an element checked on its own, e.g. ``BundleEntry``."""
        return self._review(name, data, self._plan(model_class(self.version, name)))

    def merge(self, name: str, written: Json, extra: Json) -> Json | None:
        """``written`` (an element of class ``name`` as fhir.resources writes it) with the keys
        of ``extra`` added where fhir.resources writes them; None if a key is not a field."""
        fields = self._plan(model_class(self.version, name)).fields
        items = [*written.items(), *extra.items()]
        if any(key not in fields for key, _ in items):
            return None
        return dict(sorted(items, key=lambda item: fields[item[0]].rank))

    # -- a review: the walk, else the round trip --------------------------------------------

    def _review(self, name: str, data: Json, plan: _Plan | None) -> Review:
        walked: tuple[int, Json] | None = None
        references: Refs = []
        if len(self._shapes) >= _SHAPE_LIMIT:
            # Only between walks: a walk mixing ids from before and after would be unsound.
            self._shapes.clear()
            self._trusted.clear()
        if plan is not None and self._trust_shapes:
            walked = self._node(data, plan, None, True, references)
            if walked is not None and (plan.cls, walked[0]) in self._trusted:
                return Review((), walked[1], references=tuple(references))
        return self._verify(name, data, plan, walked, references)

    def _verify(
        self, name: str, data: Json, plan: _Plan | None, walked: tuple[int, Json] | None, refs: Refs
    ) -> Review:
        """The full round trip; trusts the shape when the walk agrees with it."""
        self.full_round_trips += 1
        try:
            written: Json = json.loads(round_trip(self.version, name, data))
        except Unreadable as exc:
            return Review((str(exc),), None, readable=False)
        except ValueError as exc:
            return Review((str(exc),), None)
        nested = None
        if plan is not None and self._trust_shapes:
            nested = self._nested_problem(plan, data)
        if walked is None or plan is None:
            return Review((), written, nested_problem=nested)
        if nested is None and json.dumps(walked[1]) == json.dumps(written):
            self._trusted.add((plan.cls, walked[0]))
        return Review((), written, nested_problem=nested, references=tuple(refs))

    def _nested_problem(self, plan: _Plan, data: Json) -> str | None:
        """Why the resource fails as ``Bundle.entry.resource`` (where fhir.resources picks its
        class by ``resourceType`` and re-reads its top-level fields from a dict, not JSON)."""
        if not plan.cls.has_resource_base():
            return None  # an element is read the same way on its own and in place
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": data}]}
        try:
            round_trip(self.version, "Bundle", bundle)
        except ValueError as exc:
            return str(exc)
        return None

    # -- the walk -------------------------------------------------------------------------------

    def _node(
        self, data: Json, plan: _Plan, path: Path, top: bool, refs: Refs
    ) -> tuple[int, Json] | None:
        """(shape, output) of one object, or None when the walk gives up. The hot loop: the
        two commonest cases (a primitive, an element object) are handled inline."""
        if plan.holds_reference and type(data.get("reference")) is str:
            refs.append((path, data))
        fields = plan.fields
        shape: list[Any] = [plan]
        values: Json = {}
        for key, value in data.items():
            spec = fields.get(key)
            if spec is None:
                return None
            kind = spec.kind
            token: Any
            if kind == _LEAF:
                out = spec.check(value, top)
                if out is _BAD:
                    return None
                token = type(value)
            else:
                found = (
                    self._node(
                        value, spec.plan or self._element_plan(spec), (path, key), False, refs
                    )
                    if kind == _NODE and type(value) is dict
                    else self._value(spec, value, (path, key), top, refs)
                )
                if found is None:
                    return None
                token, out = found
            shape.append(key)
            shape.append(token)
            values[key] = out
        sid, order = self._intern(tuple(shape))
        return sid, values if order is None else {key: values[key] for key in order}

    def _value(
        self, spec: _Field, value: Any, path: Path, top: bool, refs: Refs
    ) -> tuple[Any, Any] | None:
        """(shape, output) of one field's value in the less common cases, or None."""
        kind = spec.kind
        if kind == _TYPE:
            return (value, value) if type(value) is str else None
        if kind in (_NODE, _RESOURCE):
            return self._element(spec, value, path, refs)
        if type(value) is not list:
            return None
        return self._items(spec, value, path, top, refs)

    def _items(
        self, spec: _Field, items: list[Any], path: Path, top: bool, refs: Refs
    ) -> tuple[Any, Any] | None:
        """(shape, output) of an array: its shape is the set of its items' shapes."""
        shapes: set[Any] = set()
        outs: list[Any] = []
        primitive, plan = spec.primitive, spec.plan
        if spec.kind == _NODES and plan is None:
            plan = self._element_plan(spec)
        for i, item in enumerate(items):
            found: tuple[Any, Any] | None
            if primitive is not None:
                out = primitive.check(item, top)
                found = None if out is _BAD else (type(item), out)
            elif plan is not None and type(item) is dict:
                found = self._node(item, plan, (path, i), False, refs)
            else:
                found = self._element(spec, item, (path, i), refs)
            if found is None:
                return None
            shapes.add(found[0])
            outs.append(found[1])
        return frozenset(shapes), outs

    def _element(self, spec: _Field, value: Any, path: Path, refs: Refs) -> tuple[int, Json] | None:
        if type(value) is not dict:
            return None
        if spec.kind in (_RESOURCE, _RESOURCES):
            name = value.get("resourceType")
            plan = self._resource_plan(name) if type(name) is str else None
        else:
            plan = spec.plan or self._element_plan(spec)
        return None if plan is None else self._node(value, plan, path, False, refs)

    def _element_plan(self, spec: _Field) -> _Plan:
        assert spec.model is not None
        spec.plan = self._plan(spec.model)
        return spec.plan

    def _intern(self, shape: tuple[Any, ...]) -> tuple[int, tuple[str, ...] | None]:
        """A small id for a shape, and its keys in the order fhir.resources writes them (None:
        as they come). ``shape`` is (plan, key, token, key, token, ...), where a token is the
        JSON type of a primitive, the id of an object, the set of its items' tokens for an
        array, or the ``resourceType``. Equal ids mean equal shapes."""
        found = self._shapes.get(shape)
        if found is None:
            keys: tuple[str, ...] = shape[1::2]
            fields = shape[0].fields
            order = tuple(sorted(keys, key=lambda key: fields[key].rank))
            found = self._shapes[shape] = (len(self._shapes), None if order == keys else order)
        return found

    # -- plans, from the fhir.resources classes ----------------------------------------------

    def _resource_plan(self, name: str) -> _Plan | None:
        if name not in self._resource_plans:
            try:
                cls = model_class(self.version, name)
            except ValueError:
                cls = None
            usable = cls is not None and cls.has_resource_base()
            self._resource_plans[name] = self._plan(cls) if cls is not None and usable else None
        return self._resource_plans[name]

    def _plan(self, cls: Model) -> _Plan:
        plan = self._plans.get(cls)
        if plan is None:
            plan = self._plans[cls] = _Plan(cls)
            plan.fields.update(self._fields(cls))
            plan.holds_reference = "reference" in plan.fields
        return plan

    def _fields(self, cls: Model) -> Iterator[tuple[str, _Field]]:
        """Each key fhir.resources reads and writes for ``cls``, ranked as ``_fhir_iter``
        writes them: ``resourceType``, then each element followed by its ``_`` extension."""
        order = {name: 2 * i + 2 for i, name in enumerate(cls.elements_sequence())}
        yield "resourceType", _Field(_TYPE, 0)
        for name, info in cls.model_fields.items():
            base = name.removesuffix("__ext")
            element = cls.model_fields.get(base)
            rank = order.get(element.alias or base) if element is not None else None
            if rank is None or info.alias is None:
                continue  # never written (fhir_comments): the walk gives up on it
            spec = self._field(cls, info, rank + (base != name))
            if spec is not None:
                yield info.alias, spec

    def _field(self, cls: Model, info: FieldInfo, rank: int) -> _Field | None:
        many = is_list_type(info)
        if is_primitive_type(info):
            annotation = _list_item(info.annotation) if many else info.annotation
            if annotation is None or info.metadata:
                return None
            return _Field(_LEAVES if many else _LEAF, rank, self._primitive(annotation, cls, info))
        fhir_type = _fhir_type(info.annotation)
        if fhir_type is None:
            return None
        model = fhir_type.get_model_klass()
        if issubclass(fhir_type, FhirElementOrResourceBase):
            if model.__name__ != "Resource":
                return None
            return _Field(_RESOURCES if many else _RESOURCE, rank)
        return _Field(_NODES if many else _NODE, rank, model=model)

    def _primitive(self, annotation: Any, owner: Model, info: FieldInfo) -> _Primitive:
        # Keyed by annotation: the serializer reads nothing else from the field.
        found = self._primitives.get(annotation)
        if found is None:
            found = self._primitives[annotation] = _Primitive(annotation, owner, info)
        return found


def _list_item(annotation: Any) -> Any:
    """``T`` of ``Optional[List[T]]``, or None."""
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is list:
            (item,) = typing.get_args(arg)
            return item
    return None


def _fhir_type(annotation: Any) -> type[FhirBase] | None:
    """The fhir_core type (validator of an element class) inside a field's annotation."""
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        return annotation
    for arg in typing.get_args(annotation):
        found = _fhir_type(arg)
        if found is not None:
            return found
    return None


def path_text(path: Path) -> str:
    """A walk's path as a JSON-pointer-like string (``/focus/0``; ``""`` for the root)."""
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"/{key}")
    return "".join(reversed(parts))
