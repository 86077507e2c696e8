package mirador.churn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import tools.jackson.databind.json.JsonMapper;

/**
 * The Python formats the messages are written in, against values Python 3 prints (repr, json.dumps,
 * {:,}).
 */
class PyTest {
    @Test
    void floatRepr() {
        assertEquals("1e+39", Py.repr(1e39));
        assertEquals("0.0001", Py.repr(1e-4));
        assertEquals("1e-05", Py.repr(1e-5));
        assertEquals("1e+16", Py.repr(1e16));
        assertEquals("1234567890123456.0", Py.repr(1234567890123456.0));
        assertEquals("5.0", Py.repr(5.0));
        assertEquals("-2.5", Py.repr(-2.5));
        assertEquals("0.1", Py.repr(0.1));
        assertEquals("1.5e-07", Py.repr(1.5e-7));
        assertEquals("inf", Py.repr(Double.POSITIVE_INFINITY));
        assertEquals("nan", Py.repr(Double.NaN));
        assertEquals("-0.0", Py.repr(-0.0));
    }

    @Test
    void stringReprAndDumps() {
        JsonMapper j = JsonMapper.builder().build();
        assertEquals("'x'", Py.repr("x"));
        assertEquals("\"it's\"", Py.repr("it's"));
        assertEquals("'a\\nb\\x00é'", Py.repr("a\nb\u0000é"));
        assertEquals("[1, 2.5, \"\\u00e9\"]", Py.dumps(j.readTree("[1, 2.5, \"é\"]")));
        assertEquals(
                "{\"a\": null, \"b\": true}", Py.dumps(j.readTree("{\"a\": null, \"b\": true}")));
        assertEquals("10,000", Py.thousands(10_000));
        assertEquals("int", Py.typeName(j.readTree("3")));
        assertEquals("NoneType", Py.typeName(j.readTree("null")));
    }
}
