#!/usr/bin/env python3
"""Generates Skein's Kafka message codec (C++20) from messages/*.def.

Run by CMake (src/kafka/protocol/CMakeLists.txt):

    generate.py --out DIR messages/a.def messages/b.def ...

and writes, under DIR/kafka/protocol/:

    messages/<stem>.hpp/.cpp  the request and response structs of one API
    messages.hpp              includes every messages/<stem>.hpp
    apis.hpp/.cpp             the table of supported APIs, the AnyRequest and
                              AnyResponse variants, decode/encode by api key
    samples.hpp/.cpp          fill_sample(): every field set to a non-default
                              value, for the round-trip tests and fuzz seeds

A file is rewritten only when its content changes, so editing one .def
recompiles one API.

THE .def FORMAT
===============

One file per API, line oriented; '#' starts a comment; blank lines are
ignored. Nesting is by indentation, two spaces a level.

    api <Name> key=<int> versions=<range> flexible=<range>

        The API. <Name> is the public API name (Produce); key its api key;
        versions the versions we serve (a subset of the public ones);
        flexible the versions that use compact types and tagged fields.

    request <StructName>
    response <StructName>

        Start the request or the response message (ProduceRequest).
        Each is followed by its fields at indentation 2.

    <FieldName> <type> <versions> [attribute...]

        A field, in wire order. FieldName is the public name in CamelCase;
        the C++ member is its snake_case (TransactionalId ->
        transactional_id). Types:

          bool int8 int16 int32 int64 uint16 uint32 float64 uuid
          string bytes records
          []<primitive>      array of a primitive (not bytes/records)
          []<StructName>     array of structs, whose fields follow, indented
          <StructName>       a single struct, whose fields follow, indented

        Struct names must be unique within an API file's message; each
        becomes a nested C++ type of the message (ProduceRequest::
        TopicProduceData). Attributes:

          nullable=<range>   versions in which the value may be null
                             (string, bytes, records, arrays)
          tag=<int>          a tagged field, present in <versions> (which
                             must be flexible) in the tagged section only
          default=<value>    the default: an integer (decimal or 0x hex),
                             true/false, null, or "" for strings. Without
                             it: 0, false, "", empty array, null records.
          ignorable          writing a non-default value in a version that
                             lacks the field drops it silently; without
                             this, the Writer records an error instead

    A <range> is N, N+, N-M or none. Field ranges may be written as in the
    public definitions (0+); they are cut to the API's versions and to the
    enclosing struct's, and a field left with no version is an error.

Semantics follow the public Kafka protocol: compact strings, bytes and
arrays (unsigned varint N+1, 0 = null) in flexible versions; a tagged-field
section at the end of every struct in flexible versions; tagged fields
written, in tag order, only when not at their default; unknown tags skipped
on decode; a known tag whose value does not fill its announced size exactly
fails the decode.
"""

import argparse
import os
import re
import sys

PRIMITIVES = {
    # name: (C++ type, fixed wire size or None, reader, writer)
    "bool": ("bool", 1, "read_bool", "write_bool"),
    "int8": ("std::int8_t", 1, "read_int8", "write_int8"),
    "int16": ("std::int16_t", 2, "read_int16", "write_int16"),
    "int32": ("std::int32_t", 4, "read_int32", "write_int32"),
    "int64": ("std::int64_t", 8, "read_int64", "write_int64"),
    "uint16": ("std::uint16_t", 2, "read_uint16", "write_uint16"),
    "uint32": ("std::uint32_t", 4, "read_uint32", "write_uint32"),
    "float64": ("double", 8, "read_float64", "write_float64"),
    "uuid": ("Uuid", 16, "read_uuid", "write_uuid"),
}
VARIABLE = {"string", "bytes", "records"}
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}


class DefError(Exception):
    pass


# ---------------------------------------------------------------- versions


class Range:
    """Versions lo..hi inclusive; hi None means open-ended; lo None, empty."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    @staticmethod
    def parse(text, where):
        if text == "none":
            return Range(None, None)
        m = re.fullmatch(r"(\d+)(\+|-(\d+))?", text)
        if not m:
            raise DefError(f"{where}: bad version range '{text}'")
        lo = int(m.group(1))
        if m.group(2) is None:
            return Range(lo, lo)
        if m.group(2) == "+":
            return Range(lo, None)
        hi = int(m.group(3))
        if hi < lo:
            raise DefError(f"{where}: empty version range '{text}'")
        return Range(lo, hi)

    def empty(self):
        return self.lo is None

    def intersect(self, other):
        if self.empty() or other.empty():
            return Range(None, None)
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if hi is not None and hi < lo:
            return Range(None, None)
        return Range(lo, hi)

    def contains(self, v):
        return not self.empty() and v >= self.lo and (self.hi is None or v <= self.hi)

    def covers(self, other):
        """Whether every version of `other` is in this range."""
        return other.empty() or self.intersect(other) == other

    def __eq__(self, other):
        return (self.lo, self.hi) == (other.lo, other.hi)

    def __str__(self):
        if self.empty():
            return "none"
        if self.hi is None:
            return f"{self.lo}+"
        return f"{self.lo}" if self.lo == self.hi else f"{self.lo}-{self.hi}"


# ---------------------------------------------------------------- model


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


class Field:
    def __init__(self, name, type_text, versions, where):
        self.name = name
        self.cpp = snake(name)
        self.where = where
        self.declared = versions
        self.versions = versions  # cut to the enclosing struct below
        self.nullable = Range(None, None)
        self.tag = None
        self.default = None  # text, or None for the type's zero
        self.ignorable = False
        self.struct = None  # Struct for struct and []struct fields
        self.array = type_text.startswith("[]")
        base = type_text[2:] if self.array else type_text
        self.base = base
        if base in PRIMITIVES or base in VARIABLE:
            self.kind = "primitive" if base in PRIMITIVES else base
            if self.array and base in ("bytes", "records"):
                raise DefError(f"{where}: arrays of {base} are not supported")
        elif re.fullmatch(r"[A-Z][A-Za-z0-9]*", base):
            self.kind = "struct"
        else:
            raise DefError(f"{where}: unknown type '{type_text}'")


class Struct:
    def __init__(self, name, message):
        self.name = name
        self.message = message
        self.fields = []
        self.versions = None  # the versions it is used in

    def qualified(self):
        if self is self.message.root:
            return self.name
        return f"{self.message.root.name}::{self.name}"


class Message:
    def __init__(self, kind, name, api):
        self.kind = kind  # request | response
        self.api = api
        self.root = Struct(name, self)
        self.root.versions = api.versions
        self.structs = []  # nested structs, children before parents


class Api:
    def __init__(self, name, key, versions, flexible, stem):
        self.name, self.key, self.versions, self.flexible, self.stem = (
            name, key, versions, flexible, stem)
        self.request = None
        self.response = None


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def parse_def(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    api = None
    message = None
    # stack[d - 1] is the struct that fields at depth d (indent 2d) belong to.
    stack = []
    for number, raw in enumerate(lines_of(path), 1):
        where = f"{path}:{number}"
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if "\t" in line:
            raise DefError(f"{where}: tabs are not allowed")
        indent = len(line) - len(line.lstrip(" "))
        words = line.split()
        if indent == 0:
            if words[0] == "api":
                try:
                    attrs = dict(w.split("=", 1) for w in words[2:])
                except ValueError:
                    attrs = {}
                if api is not None or len(words) < 2 or \
                        set(attrs) != {"key", "versions", "flexible"}:
                    raise DefError(f"{where}: expected one 'api NAME key= versions= flexible='")
                api = Api(words[1], int(attrs["key"]), Range.parse(attrs["versions"], where),
                          Range.parse(attrs["flexible"], where), stem)
                if api.versions.empty() or api.versions.hi is None:
                    raise DefError(f"{where}: an API's versions must be a closed range")
            elif words[0] in ("request", "response") and len(words) == 2:
                if api is None:
                    raise DefError(f"{where}: 'api' must come first")
                if getattr(api, words[0]) is not None:
                    raise DefError(f"{where}: a second {words[0]}")
                message = Message(words[0], words[1], api)
                setattr(api, words[0], message)
                stack = [message.root]
            else:
                raise DefError(f"{where}: expected 'api', 'request' or 'response'")
            continue
        if message is None:
            raise DefError(f"{where}: a field outside a message")
        depth = indent // 2
        if indent % 2 or depth > len(stack):
            raise DefError(f"{where}: unexpected indentation")
        del stack[depth:]
        parent = stack[depth - 1]
        if len(words) < 3:
            raise DefError(f"{where}: expected 'Name type versions [attributes]'")
        field = Field(words[0], words[1], Range.parse(words[2], where), where)
        for attr in words[3:]:
            if attr == "ignorable":
                field.ignorable = True
                continue
            if "=" not in attr:
                raise DefError(f"{where}: unknown attribute '{attr}'")
            key, value = attr.split("=", 1)
            if key == "nullable":
                field.nullable = Range.parse(value, where)
            elif key == "tag":
                field.tag = int(value)
            elif key == "default":
                field.default = value
            else:
                raise DefError(f"{where}: unknown attribute '{key}'")
        if any(f.cpp == field.cpp for f in parent.fields):
            raise DefError(f"{where}: field {field.name} defined twice (as {field.cpp})")
        parent.fields.append(field)
        if field.kind == "struct":
            field.struct = Struct(field.base, message)
            stack.append(field.struct)
    if api is None or api.request is None or api.response is None:
        raise DefError(f"{path}: needs an api line, a request and a response")
    for message in (api.request, api.response):
        resolve(message)
    return api


def resolve(message):
    """Cuts version ranges to their struct, checks them, orders the structs."""
    api = message.api
    names = {}

    def walk(struct):
        for field in struct.fields:
            where = field.where
            field.versions = field.declared.intersect(struct.versions)
            if field.versions.empty():
                raise DefError(f"{where}: {field.name} is in none of the versions served")
            field.nullable = field.nullable.intersect(field.versions)
            if not field.nullable.empty() and not (field.array or field.kind in VARIABLE):
                raise DefError(f"{where}: only strings, bytes, records and arrays are nullable")
            if field.kind == "struct" and not field.array and not field.nullable.empty():
                raise DefError(f"{where}: nullable structs are not supported")
            if field.tag is not None:
                if not api.flexible.covers(field.versions):
                    raise DefError(f"{where}: tagged field in a version that is not flexible")
                if field.kind == "records":
                    raise DefError(f"{where}: tagged records are not supported")
            check_default(field)
            if field.struct is not None:
                if field.struct.name in names or field.struct.name == message.root.name:
                    raise DefError(f"{where}: struct {field.struct.name} defined twice")
                names[field.struct.name] = field.struct
                field.struct.versions = field.versions
                if not field.struct.fields:
                    raise DefError(f"{where}: struct {field.struct.name} has no fields")
                walk(field.struct)
                message.structs.append(field.struct)
        tags = [f.tag for f in struct.fields if f.tag is not None]
        if len(tags) != len(set(tags)):
            raise DefError(f"{message.root.name}: duplicate tag in {struct.name}")

    walk(message.root)


def check_default(field):
    d = field.default
    if d is None:
        return
    where = field.where
    if field.array or field.kind in ("bytes", "records"):
        if d != "null" or field.nullable.empty():
            raise DefError(f"{where}: arrays, bytes and records can only default to null")
    elif field.kind == "string":
        if d == "null":
            if field.nullable.empty():
                raise DefError(f"{where}: default null on a field that is never nullable")
        elif d != '""':
            raise DefError(f"{where}: string defaults other than \"\" and null are not supported")
    elif field.kind == "primitive":
        if field.base == "bool":
            if d not in ("true", "false"):
                raise DefError(f"{where}: bad bool default '{d}'")
        elif field.base in INT_RANGES:
            lo, hi = INT_RANGES[field.base]
            try:
                value = int(d, 0)
            except ValueError:
                raise DefError(f"{where}: bad integer default '{d}'")
            if not lo <= value <= hi:
                raise DefError(f"{where}: default {d} out of range for {field.base}")
        else:
            raise DefError(f"{where}: defaults are not supported for {field.base}")
    else:
        raise DefError(f"{where}: defaults are not supported for structs")


# ---------------------------------------------------------------- C++ helpers


def cond(rng, base):
    """A C++ condition for `version` in rng, knowing that version is in the
    closed range `base` (the enclosing struct's versions, or the field's);
    'true' or 'false' when it does not depend on the version."""
    r = rng.intersect(base)
    if r.empty():
        return "false"
    parts = []
    if r.lo > base.lo:
        parts.append(f"version >= {r.lo}")
    if r.hi is not None and r.hi < base.hi:
        parts.append(f"version <= {r.hi}")
    return " && ".join(parts) if parts else "true"


def flexible_expr(api):
    return cond(api.flexible, api.versions)


def int_literal(value, base):
    lo, _ = INT_RANGES[base]
    if value == lo and base in ("int32", "int64"):
        return f"std::numeric_limits<{PRIMITIVES[base][0]}>::min()"
    if base == "int64":
        return f"INT64_C({value})"
    return str(value)


def element_cpp(field):
    if field.kind == "struct":
        return field.struct.name
    if field.kind == "string":
        return "std::string"
    return PRIMITIVES[field.base][0]


def nullable_any(field):
    return not field.nullable.empty()


def member_type(field):
    if field.array:
        t = f"std::vector<{element_cpp(field)}>"
    elif field.kind == "struct":
        return field.struct.name
    elif field.kind == "string":
        t = "std::string"
    elif field.kind == "bytes":
        t = "std::vector<std::byte>"
    elif field.kind == "records":
        return "Records"
    else:
        return PRIMITIVES[field.base][0]
    return f"std::optional<{t}>" if nullable_any(field) else t


def default_initializer(field):
    """The member's initializer, '' for value-initialisation."""
    d = field.default
    if field.array or field.kind in ("string", "bytes"):
        if nullable_any(field):
            if d == "null":
                return ""  # nullopt
            inner = member_type(field)[len("std::optional<"):-1]
            return f" = {inner}()"
        return ""
    if field.kind in ("records", "struct"):
        return ""
    base = field.base
    if base == "bool":
        return " = true" if d == "true" else " = false"
    if base == "uuid":
        return ""
    if base == "float64":
        return " = 0.0"
    value = int(d, 0) if d is not None else 0
    return f" = {int_literal(value, base)}"


def is_default_expr(field, target):
    """A C++ expression that is true when `target` holds the default."""
    d = field.default
    if field.array or field.kind in ("string", "bytes"):
        if nullable_any(field):
            if d == "null":
                return f"!{target}.has_value()"
            return f"({target}.has_value() && {target}->empty())"
        return f"{target}.empty()"
    if field.kind == "records":
        return f"{target}.is_null()"
    if field.kind == "struct":
        return f"{target} == {field.struct.name}{{}}"
    base = field.base
    if base == "bool":
        return f"{target} == {'true' if d == 'true' else 'false'}"
    if base == "uuid":
        return f"{target}.is_zero()"
    if base == "float64":
        return f"{target} == 0.0"
    value = int(d, 0) if d is not None else 0
    return f"{target} == {int_literal(value, base)}"


class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, text="", indent=0):
        self.lines.append(("  " * indent + text) if text else "")

    def text(self):
        return "\n".join(self.lines) + "\n"


def min_size(struct, version, flexible):
    """The least number of bytes `struct` encodes to at `version`."""
    total = 1 if flexible else 0  # the tagged-field count
    for field in struct.fields:
        if field.tag is not None or not field.versions.contains(version):
            continue
        total += min_field_size(field, version, flexible)
    return total


def min_field_size(field, version, flexible):
    if field.array:
        return 1 if flexible else 4
    if field.kind == "struct":
        return min_size(field.struct, version, flexible)
    if field.kind == "string":
        return 1 if flexible else 2
    if field.kind in ("bytes", "records"):
        return 1 if flexible else 4
    return PRIMITIVES[field.base][1]


def element_min_size_expr(field, api, message):
    """C++ expression for the least size of one array element."""
    if field.kind == "struct":
        return f"min_size_{message.root.name}_{field.struct.name}(version)"
    if field.kind == "string":
        return "(flexible ? 1u : 2u)"
    return f"{PRIMITIVES[field.base][1]}u"


# ---------------------------------------------------------------- decode


def emit_read_value(out, field, target, api, message, reader, ind, compact):
    """Reads one value of `field` (array or not) into `target`."""
    nullable = cond(field.nullable, field.versions)
    if field.array:
        min_expr = element_min_size_expr(field, api, message)
        out("{", ind)
        out(f"const std::int32_t count = {reader}.read_array_length({compact}, {min_expr});", ind + 1)
        out("if (count < 0) {", ind + 1)
        if nullable_any(field):
            if nullable == "true":
                out(f"{target}.reset();", ind + 2)
            else:
                out(f"if ({nullable}) {{", ind + 2)
                out(f"{target}.reset();", ind + 3)
                out("} else {", ind + 2)
                out(f"{reader}.fail();", ind + 3)
                out("}", ind + 2)
        else:
            out(f"{reader}.fail();", ind + 2)
        out("} else {", ind + 1)
        items = f"{target}.emplace()" if nullable_any(field) else target
        out(f"auto& items = {items};", ind + 2)
        out("items.clear();", ind + 2)
        out("items.reserve(static_cast<std::size_t>(count));", ind + 2)
        out(f"for (std::int32_t i = 0; i < count && {reader}.ok(); ++i) {{", ind + 2)
        if field.kind == "struct":
            out(f"items.emplace_back().decode({reader}, version);", ind + 3)
        elif field.kind == "string":
            out(f"{reader}.read_string(items.emplace_back(), {compact});", ind + 3)
        else:
            out(f"items.push_back({reader}.{PRIMITIVES[field.base][2]}());", ind + 3)
        out("}", ind + 2)
        out("}", ind + 1)
        out("}", ind)
        return
    if field.kind == "struct":
        out(f"{target}.decode({reader}, version);", ind)
    elif field.kind == "records":
        out(f"{reader}.read_records({target}, {compact}, {nullable});", ind)
    elif field.kind in ("string", "bytes"):
        kind = field.kind
        if not nullable_any(field):
            out(f"{reader}.read_{kind}({target}, {compact});", ind)
        elif nullable == "true":
            out(f"{reader}.read_nullable_{kind}({target}, {compact});", ind)
        else:
            out(f"if ({nullable}) {{", ind)
            out(f"{reader}.read_nullable_{kind}({target}, {compact});", ind + 1)
            out("} else {", ind)
            out(f"{reader}.read_{kind}({target}.emplace(), {compact});", ind + 1)
            out("}", ind)
    else:
        out(f"{target} = {reader}.{PRIMITIVES[field.base][2]}();", ind)


def emit_decode(out, struct, message):
    api = message.api
    name = struct.qualified()
    top = struct is message.root
    out(f"bool {name}::decode(Reader& reader, [[maybe_unused]] std::int16_t version) {{")
    if top:
        out("if (version < kMinVersion || version > kMaxVersion) {", 1)
        out("reader.fail();", 2)
        out("return false;", 2)
        out("}", 1)
    out(f"*this = {struct.name}{{}};", 1)
    out(f"[[maybe_unused]] const bool flexible = {flexible_expr(api)};", 1)
    for field in struct.fields:
        if field.tag is not None:
            continue
        c = cond(field.versions, struct.versions)
        target = field.cpp
        if c == "true":
            emit_read_value(out, field, target, api, message, "reader", 1, "flexible")
        else:
            out(f"if ({c}) {{", 1)
            emit_read_value(out, field, target, api, message, "reader", 2, "flexible")
            out("}", 1)
    tagged = sorted((f for f in struct.fields if f.tag is not None), key=lambda f: f.tag)
    if flexible_expr(api) != "false":
        out("if (flexible) {", 1)
        if not tagged:
            out("reader.skip_tagged_fields();", 2)
        else:
            out("const std::uint32_t tag_count = reader.read_unsigned_varint();", 2)
            out("for (std::uint32_t t = 0; t < tag_count && reader.ok(); ++t) {", 2)
            out("const std::uint32_t tag = reader.read_unsigned_varint();", 3)
            out("Reader field_reader = reader.sub_reader(reader.read_unsigned_varint());", 3)
            out("switch (tag) {", 3)
            for field in tagged:
                out(f"case {field.tag}:", 4)
                c = cond(field.versions, struct.versions)
                if c != "true":
                    out(f"if (!({c})) break;  // not tagged in this version: unknown", 5)
                emit_read_value(out, field, field.cpp, api, message, "field_reader", 5, "true")
                out("// A known tag must fill exactly the size it announced.", 5)
                out("if (!field_reader.at_end()) reader.fail();", 5)
                out("break;", 5)
            out("default:", 4)
            out("break;  // an unknown tag: skipped, and no copy is kept", 5)
            out("}", 3)
            out("}", 2)
        out("}", 1)
    out("return reader.ok();", 1)
    out("}")
    out()


# ---------------------------------------------------------------- encode


def emit_write_value(out, field, target, api, writer, ind, compact, label):
    nullable = cond(field.nullable, field.versions)
    null_error = f'{writer}.fail("{label}: null in a version where it is not nullable");'
    if field.array:
        if nullable_any(field):
            out(f"if (!{target}) {{", ind)
            if nullable == "true":
                out(f"{writer}.write_null_array({compact});", ind + 1)
            else:
                out(f"if ({nullable}) {{", ind + 1)
                out(f"{writer}.write_null_array({compact});", ind + 2)
                out("} else {", ind + 1)
                out(null_error, ind + 2)
                out("}", ind + 1)
            out("} else {", ind)
            items = f"(*{target})"
            ind += 1
        else:
            items = target
        out(f"{writer}.write_array_length({items}.size(), {compact});", ind)
        out(f"for (const auto& item : {items}) {{", ind)
        if field.kind == "struct":
            out(f"item.encode({writer}, version);", ind + 1)
        elif field.kind == "string":
            out(f"{writer}.write_string(item, {compact});", ind + 1)
        else:
            out(f"{writer}.{PRIMITIVES[field.base][3]}(item);", ind + 1)
        out("}", ind)
        if nullable_any(field):
            out("}", ind - 1)
        return
    if field.kind == "struct":
        out(f"{target}.encode({writer}, version);", ind)
    elif field.kind == "records":
        if nullable != "true":
            out(f"if ({target}.is_null() && !({nullable})) {null_error}", ind)
        out(f"{writer}.write_records({target}, {compact});", ind)
    elif field.kind in ("string", "bytes"):
        kind = field.kind
        if not nullable_any(field):
            out(f"{writer}.write_{kind}({target}, {compact});", ind)
        elif nullable == "true":
            out(f"{writer}.write_nullable_{kind}({target}, {compact});", ind)
        else:
            out(f"if ({target} || ({nullable})) {{", ind)
            out(f"{writer}.write_nullable_{kind}({target}, {compact});", ind + 1)
            out("} else {", ind)
            out(null_error, ind + 1)
            out("}", ind)
    else:
        out(f"{writer}.{PRIMITIVES[field.base][3]}({target});", ind)


def emit_absent_check(out, field, struct, ind, label):
    """For a version that lacks the field: a non-default value is an error
    unless the field is ignorable."""
    if field.ignorable:
        return
    c = cond(field.versions, struct.versions)
    out(f"if (!({c}) && !({is_default_expr(field, field.cpp)})) {{", ind)
    out(f'writer.fail("{label}: set in a version that lacks it");', ind + 1)
    out("}", ind)


def emit_encode(out, struct, message):
    api = message.api
    name = struct.qualified()
    top = struct is message.root
    out(f"void {name}::encode(Writer& writer, [[maybe_unused]] std::int16_t version) const {{")
    if top:
        out("if (version < kMinVersion || version > kMaxVersion) {", 1)
        out(f'writer.fail("{message.root.name}: version not supported");', 2)
        out("return;", 2)
        out("}", 1)
    out(f"[[maybe_unused]] const bool flexible = {flexible_expr(api)};", 1)
    for field in struct.fields:
        label = f"{message.root.name}.{field.cpp}" if top else \
            f"{message.root.name}::{struct.name}.{field.cpp}"
        c = cond(field.versions, struct.versions)
        if c != "true":
            emit_absent_check(out, field, struct, 1, label)
        if field.tag is not None:
            continue
        if c == "true":
            emit_write_value(out, field, field.cpp, api, "writer", 1, "flexible", label)
        else:
            out(f"if ({c}) {{", 1)
            emit_write_value(out, field, field.cpp, api, "writer", 2, "flexible", label)
            out("}", 1)
    tagged = sorted((f for f in struct.fields if f.tag is not None), key=lambda f: f.tag)
    if flexible_expr(api) != "false":
        out("if (flexible) {", 1)
        if not tagged:
            out("writer.write_unsigned_varint(0);", 2)
        else:
            for field in tagged:
                c = cond(field.versions, struct.versions)
                present = f"!({is_default_expr(field, field.cpp)})"
                if c != "true":
                    present = f"({c}) && {present}"
                out(f"const bool has_tag_{field.tag} = {present};", 2)
            count = " + ".join(f"(has_tag_{f.tag} ? 1u : 0u)" for f in tagged)
            out(f"writer.write_unsigned_varint({count});", 2)
            for field in tagged:
                label = f"{message.root.name}.{field.cpp}"
                out(f"if (has_tag_{field.tag}) {{", 2)
                out(f"writer.write_unsigned_varint({field.tag});", 3)
                out("Writer value_writer;", 3)
                emit_write_value(out, field, field.cpp, api, "value_writer", 3, "true", label)
                out("writer.write_unsigned_varint(static_cast<std::uint32_t>(value_writer.size()));", 3)
                out("writer.append(std::move(value_writer));", 3)
                out("}", 2)
        out("}", 1)
    out("}")
    out()


# ---------------------------------------------------------------- structs


def emit_struct_decl(out, struct, message, ind):
    api = message.api
    out(f"struct {struct.name} {{", ind)
    if struct is message.root:
        flex = api.flexible.lo if not api.flexible.empty() else -1
        out(f"static constexpr std::int16_t kApiKey = {api.key};", ind + 1)
        out(f"static constexpr std::int16_t kMinVersion = {api.versions.lo};", ind + 1)
        out(f"static constexpr std::int16_t kMaxVersion = {api.versions.hi};", ind + 1)
        out(f"// The first flexible version (compact types, tagged fields); -1 for none.", ind + 1)
        out(f"static constexpr std::int16_t kFlexibleFrom = {flex};", ind + 1)
        out()
        for nested in message.structs:
            emit_struct_decl(out, nested, message, ind + 1)
            out()
    for field in struct.fields:
        notes = [f"v{field.versions}"]
        if nullable_any(field):
            notes.append(f"nullable v{field.nullable}")
        if field.tag is not None:
            notes.append(f"tag {field.tag}")
        if field.ignorable:
            notes.append("ignorable")
        out(f"{member_type(field)} {field.cpp}{default_initializer(field)};  // "
            f"{field.name}: {', '.join(notes)}", ind + 1)
    out()
    if struct is message.root:
        out("// Reads the body at `version`; false (and the reader failed) when the", ind + 1)
        out("// version is not served or the bytes are malformed. Strings and bytes", ind + 1)
        out("// are copied; records stay views into the reader's buffer.", ind + 1)
    out("bool decode(Reader& reader, std::int16_t version);", ind + 1)
    if struct is message.root:
        out("// Appends the body at `version`; check writer.ok() afterwards.", ind + 1)
    out("void encode(Writer& writer, std::int16_t version) const;", ind + 1)
    out(f"bool operator==(const {struct.name}&) const = default;", ind + 1)
    out("};", ind)


def generated_banner(source):
    return (f"// Generated by src/kafka/protocol/generate.py from {source}.\n"
            "// Do not edit: change the .def file or the generator instead.\n")


def emit_api_header(api):
    out = Out()
    out(generated_banner(f"src/kafka/protocol/messages/{api.stem}.def").rstrip("\n"))
    out(f"// The {api.name} API (key {api.key}), versions {api.versions}, flexible "
        f"{api.flexible}.")
    out("#pragma once")
    out()
    for h in ("cstddef", "cstdint", "limits", "optional", "string", "vector"):
        out(f"#include <{h}>")
    out()
    out('#include "kafka/protocol/reader.hpp"')
    out('#include "kafka/protocol/records.hpp"')
    out('#include "kafka/protocol/types.hpp"')
    out('#include "kafka/protocol/writer.hpp"')
    out()
    out("namespace skein::kafka::messages {")
    out()
    for message in (api.request, api.response):
        emit_struct_decl(out, message.root, message, 0)
        out()
    out("}  // namespace skein::kafka::messages")
    return out.text()


def all_fields(message):
    """Every field of the message, nested ones included."""
    out = []

    def walk(struct):
        for field in struct.fields:
            out.append(field)
            if field.struct is not None:
                walk(field.struct)

    walk(message.root)
    return out


def emit_api_source(api):
    out = Out()
    out(generated_banner(f"src/kafka/protocol/messages/{api.stem}.def").rstrip("\n"))
    out(f'#include "kafka/protocol/messages/{api.stem}.hpp"')
    out()
    out("#include <utility>")
    out()
    out("namespace skein::kafka::messages {")
    out()
    out("namespace {")
    out()
    out("// The least encoded size of one element of each struct, by version: an")
    out("// array's count is checked against it before anything is allocated.")
    for message in (api.request, api.response):
        elements = [f.struct for f in all_fields(message) if f.array and f.struct is not None]
        for struct in elements:
            sizes = []
            for v in range(api.versions.lo, api.versions.hi + 1):
                s = min_size(struct, v, api.flexible.contains(v))
                sizes.append(str(max(s, 1)))
            out(f"std::size_t min_size_{message.root.name}_{struct.name}(std::int16_t version) {{")
            out(f"constexpr std::size_t kSizes[] = {{{', '.join(sizes)}}};", 1)
            out(f"const int i = version - {api.versions.lo};", 1)
            out(f"return i >= 0 && i < {len(sizes)} ? kSizes[i] : 1;", 1)
            out("}")
            out()
    out("}  // namespace")
    out()
    for message in (api.request, api.response):
        for struct in message.structs + [message.root]:
            emit_decode(out, struct, message)
            emit_encode(out, struct, message)
    out("}  // namespace skein::kafka::messages")
    return out.text()


# ---------------------------------------------------------------- apis table


def emit_apis_header(apis):
    out = Out()
    out(generated_banner("src/kafka/protocol/messages/*.def").rstrip("\n"))
    out("// The APIs Skein serves: the table behind ApiVersions, and decoding or")
    out("// encoding a message chosen by api key at run time.")
    out("#pragma once")
    out()
    for h in ("cstdint", "span", "string_view", "variant"):
        out(f"#include <{h}>")
    out()
    out('#include "kafka/protocol/messages.hpp"')
    out('#include "kafka/protocol/reader.hpp"')
    out('#include "kafka/protocol/types.hpp"')
    out('#include "kafka/protocol/writer.hpp"')
    out()
    out("namespace skein::kafka {")
    out()
    out("enum class ApiKey : std::int16_t {")
    for api in sorted(apis, key=lambda a: a.key):
        out(f"{snake(api.name)} = {api.key},", 1)
    out("};")
    out()
    out("struct ApiInfo {")
    out("std::int16_t key;", 1)
    out("std::string_view name;  // the public name: \"Produce\"", 1)
    out("VersionRange versions;  // the versions served", 1)
    out("std::int16_t flexible_from;  // the first flexible version; -1 for none", 1)
    out("};")
    out()
    out("// Every API served, by increasing key.")
    out("std::span<const ApiInfo> supported_apis();")
    out("// The API with that key, or nullptr when it is not served.")
    out("const ApiInfo* find_api(std::int16_t key);")
    out()
    out("// One alternative per API, in the order of supported_apis().")
    order = sorted(apis, key=lambda a: a.key)
    for kind in ("Request", "Response"):
        out(f"using Any{kind} = std::variant<")
        for i, api in enumerate(order):
            sep = "," if i + 1 < len(order) else ">;"
            out(f"messages::{getattr(api, kind.lower()).root.name}{sep}", 1)
        out()
    out("// Decodes a body of the API `key` at `version` into `out`; false when the")
    out("// key or the version is not served or the bytes are malformed.")
    out("bool decode_request(std::int16_t key, std::int16_t version, Reader& reader, "
        "AnyRequest& out);")
    out("bool decode_response(std::int16_t key, std::int16_t version, Reader& reader, "
        "AnyResponse& out);")
    out("// Encodes whichever message `message` holds; check writer.ok().")
    out("void encode_message(const AnyRequest& message, Writer& writer, std::int16_t version);")
    out("void encode_message(const AnyResponse& message, Writer& writer, std::int16_t version);")
    out("// The api key of the message held.")
    out("std::int16_t api_key_of(const AnyRequest& message);")
    out("std::int16_t api_key_of(const AnyResponse& message);")
    out()
    out("}  // namespace skein::kafka")
    return out.text()


def emit_apis_source(apis):
    out = Out()
    out(generated_banner("src/kafka/protocol/messages/*.def").rstrip("\n"))
    out('#include "kafka/protocol/apis.hpp"')
    out()
    out("#include <algorithm>")
    out("#include <array>")
    out()
    out("namespace skein::kafka {")
    out()
    out("namespace {")
    out()
    order = sorted(apis, key=lambda a: a.key)
    out(f"constexpr std::array<ApiInfo, {len(order)}> kApis = {{{{")
    for api in order:
        flex = api.flexible.lo if not api.flexible.empty() else -1
        out(f'{{{api.key}, "{api.name}", {{{api.versions.lo}, {api.versions.hi}}}, {flex}}},', 1)
    out("}};")
    out()
    out("}  // namespace")
    out()
    out("std::span<const ApiInfo> supported_apis() { return kApis; }")
    out()
    out("const ApiInfo* find_api(std::int16_t key) {")
    out("auto it = std::lower_bound(kApis.begin(), kApis.end(), key,", 1)
    out("[](const ApiInfo& api, std::int16_t k) { return api.key < k; });", 6)
    out("return it != kApis.end() && it->key == key ? &*it : nullptr;", 1)
    out("}")
    out()
    for kind in ("Request", "Response"):
        out(f"bool decode_{kind.lower()}(std::int16_t key, std::int16_t version, Reader& reader, "
            f"Any{kind}& out) {{")
        out("switch (key) {", 1)
        for api in order:
            name = getattr(api, kind.lower()).root.name
            out(f"case {api.key}:", 2)
            out(f"return out.emplace<messages::{name}>().decode(reader, version);", 3)
        out("default:", 2)
        out("reader.fail();", 3)
        out("return false;", 3)
        out("}", 1)
        out("}")
        out()
        out(f"void encode_message(const Any{kind}& message, Writer& writer, std::int16_t version) {{")
        out("std::visit([&](const auto& m) { m.encode(writer, version); }, message);", 1)
        out("}")
        out()
        out(f"std::int16_t api_key_of(const Any{kind}& message) {{")
        out("return std::visit([](const auto& m) { return m.kApiKey; }, message);", 1)
        out("}")
        out()
    out("}  // namespace skein::kafka")
    return out.text()


def emit_messages_header(apis):
    out = Out()
    out(generated_banner("src/kafka/protocol/messages/*.def").rstrip("\n"))
    out("// Every message struct of every API served.")
    out("#pragma once")
    out()
    for api in sorted(apis, key=lambda a: a.stem):
        out(f'#include "kafka/protocol/messages/{api.stem}.hpp"')
    return out.text()


# ---------------------------------------------------------------- samples


def emit_sample_value(out, field, target, api, message, ind, counter):
    """Sets `target` to a non-default value (arrays: two elements)."""
    k = 2 + counter % 90
    if field.array:
        out(f"{target}.emplace();" if nullable_any(field) else f"{target}.clear();", ind)
        items = f"(*{target})" if nullable_any(field) else target
        out("for (int j = 0; j < 2; ++j) {", ind)
        if field.kind == "struct":
            out(f"fill_sample({items}.emplace_back(), version, mode, seed + j + 1);", ind + 1)
        elif field.kind == "string":
            out(f'{items}.push_back("{field.name}-" + std::to_string(seed) + "-" + '
                f'std::to_string(j));', ind + 1)
        elif field.base == "uuid":
            out(f"{items}.push_back(sample_uuid({k} + j, seed));", ind + 1)
        elif field.base == "bool":
            out(f"{items}.push_back(j == 0);", ind + 1)
        elif field.base == "float64":
            out(f"{items}.push_back({k}.5 + j + seed);", ind + 1)
        else:
            out(f"{items}.push_back(static_cast<{PRIMITIVES[field.base][0]}>({k} + j + seed));",
                ind + 1)
        out("}", ind)
        return
    if field.kind == "struct":
        out(f"fill_sample({target}, version, mode, seed + 1);", ind)
    elif field.kind == "string":
        out(f'{target} = "{field.name}-" + std::to_string(seed);', ind)
    elif field.kind == "bytes":
        out(f"{target} = sample_bytes({k}, seed);", ind)
    elif field.kind == "records":
        out(f"{target} = Records::owned(sample_bytes({k}, seed));", ind)
    elif field.base == "bool":
        out(f"{target} = {'false' if field.default == 'true' else 'true'};", ind)
    elif field.base == "uuid":
        out(f"{target} = sample_uuid({k}, seed);", ind)
    elif field.base == "float64":
        out(f"{target} = {k}.5 + seed;", ind)
    else:
        out(f"{target} = static_cast<{PRIMITIVES[field.base][0]}>({k} + seed);", ind)


def emit_samples(apis):
    hdr = Out()
    hdr(generated_banner("src/kafka/protocol/messages/*.def").rstrip("\n"))
    hdr("// Sample messages for tests and fuzz seeds: fill_sample() sets every field")
    hdr("// present in `version` to a value other than its default (arrays get two")
    hdr("// elements), or, in SampleMode::nulls, sets every field that is nullable")
    hdr("// in `version` to null. Fields absent from `version` keep their defaults,")
    hdr("// so a sample survives an encode/decode round trip unchanged.")
    hdr("#pragma once")
    hdr()
    hdr("#include <cstdint>")
    hdr()
    hdr('#include "kafka/protocol/apis.hpp"')
    hdr()
    hdr("namespace skein::kafka::messages {")
    hdr()
    hdr("enum class SampleMode { values, nulls };")
    hdr()
    src = Out()
    src(generated_banner("src/kafka/protocol/messages/*.def").rstrip("\n"))
    src('#include "kafka/protocol/samples.hpp"')
    src()
    src("#include <string>")
    src("#include <utility>")
    src()
    src("namespace skein::kafka::messages {")
    src()
    src("namespace {")
    src()
    src("[[maybe_unused]] std::vector<std::byte> sample_bytes(int k, int seed) {")
    src("return {std::byte{0xA5}, static_cast<std::byte>(k), static_cast<std::byte>(seed), "
        "std::byte{0x00}};", 1)
    src("}")
    src()
    src("[[maybe_unused]] Uuid sample_uuid(int k, int seed) {")
    src("Uuid id;", 1)
    src("for (std::size_t i = 0; i < id.bytes.size(); ++i) {", 1)
    src("id.bytes[i] = static_cast<std::byte>(k + seed + static_cast<int>(i));", 2)
    src("}", 1)
    src("return id;", 1)
    src("}")
    src()
    src("}  // namespace")
    src()
    counter = 0
    for api in sorted(apis, key=lambda a: a.key):
        for message in (api.request, api.response):
            for struct in message.structs + [message.root]:
                q = struct.qualified()
                hdr(f"void fill_sample({q}& m, std::int16_t version, SampleMode mode, int seed = 0);")
                src(f"void fill_sample({q}& m, [[maybe_unused]] std::int16_t version,")
                src("[[maybe_unused]] SampleMode mode, [[maybe_unused]] int seed) {", 2)
                for field in struct.fields:
                    counter += 1
                    c = cond(field.versions, struct.versions)
                    ind = 1
                    if c != "true":
                        src(f"if ({c}) {{", 1)
                        ind = 2
                    target = f"m.{field.cpp}"
                    if nullable_any(field):
                        nc = cond(field.nullable, field.versions)
                        null_value = "Records()" if field.kind == "records" else "std::nullopt"
                        src(f"if (mode == SampleMode::nulls && ({nc})) {{", ind)
                        src(f"{target} = {null_value};", ind + 1)
                        src("} else {", ind)
                        emit_sample_value(src, field, target, api, message, ind + 1, counter)
                        src("}", ind)
                    else:
                        emit_sample_value(src, field, target, api, message, ind, counter)
                    if c != "true":
                        src("}", 1)
                src("}")
                src()
    hdr()
    hdr("// A sample request or response of the API `key` at `version`.")
    hdr("AnyRequest sample_request(std::int16_t key, std::int16_t version, SampleMode mode);")
    hdr("AnyResponse sample_response(std::int16_t key, std::int16_t version, SampleMode mode);")
    hdr()
    hdr("}  // namespace skein::kafka::messages")
    for kind in ("Request", "Response"):
        src(f"Any{kind} sample_{kind.lower()}(std::int16_t key, std::int16_t version, "
            f"SampleMode mode) {{")
        src(f"Any{kind} out;", 1)
        src("switch (key) {", 1)
        for api in sorted(apis, key=lambda a: a.key):
            name = getattr(api, kind.lower()).root.name
            src(f"case {api.key}:", 2)
            src(f"fill_sample(out.emplace<{name}>(), version, mode);", 3)
            src("break;", 3)
        src("default:", 2)
        src("break;", 3)
        src("}", 1)
        src("return out;", 1)
        src("}")
        src()
    src("}  // namespace skein::kafka::messages")
    return hdr.text(), src.text()


# ---------------------------------------------------------------- main


def write_if_changed(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", required=True, help="output root directory")
    parser.add_argument("defs", nargs="+", help="messages/*.def files")
    args = parser.parse_args(argv)
    try:
        apis = [parse_def(path) for path in args.defs]
    except DefError as e:
        print(f"generate.py: {e}", file=sys.stderr)
        return 1
    keys = [a.key for a in apis]
    if len(keys) != len(set(keys)):
        print("generate.py: two .def files declare the same api key", file=sys.stderr)
        return 1
    root = os.path.join(args.out, "kafka", "protocol")
    for api in apis:
        write_if_changed(os.path.join(root, "messages", api.stem + ".hpp"), emit_api_header(api))
        write_if_changed(os.path.join(root, "messages", api.stem + ".cpp"), emit_api_source(api))
    write_if_changed(os.path.join(root, "messages.hpp"), emit_messages_header(apis))
    write_if_changed(os.path.join(root, "apis.hpp"), emit_apis_header(apis))
    write_if_changed(os.path.join(root, "apis.cpp"), emit_apis_source(apis))
    samples_hpp, samples_cpp = emit_samples(apis)
    write_if_changed(os.path.join(root, "samples.hpp"), samples_hpp)
    write_if_changed(os.path.join(root, "samples.cpp"), samples_cpp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
