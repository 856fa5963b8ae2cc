# embed.cmake: writes OUT, a C file defining NAME[] (the bytes of IN, then a
# NUL) and NAME_len, so a file ships inside the program that serves it.
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* generated from ${IN} by cmake/embed.cmake: do not edit */\n"
	"#include <stddef.h>\n"
	"extern const unsigned char ${NAME}[];\nextern const size_t ${NAME}_len;\n"
	"const unsigned char ${NAME}[] = {${bytes}0};\n"
	"const size_t ${NAME}_len = ${len};\n")
