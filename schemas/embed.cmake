# Turns a text file into a C++ source that defines ltb::embedded::schema_text().
file(READ ${IN} content)
set(delim "LTB_SCHEMA_RAW")
file(WRITE ${OUT} "#include <string_view>\nnamespace ltb::embedded {\nstd::string_view schema_text() {\n  return R\"${delim}(${content})${delim}\";\n}\n}\n")
