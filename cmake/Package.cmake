# `cpack -G DEB` from the build directory: one package, baton, with the program, the headers,
# the static libraries and their CMake and pkg-config files, under /usr. Its Depends are
# computed by dpkg-shlibdeps from what the program links (libsqlite3, libpq, spdlog, ...).
set(CPACK_PACKAGE_NAME baton)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR baton)
set(CPACK_PACKAGE_CONTACT "baton maintainers <baton@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Runs one active copy of a service among many, with per-tenant work queues")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "baton runs many copies of a background service so that exactly one is active and the "
       "others take over when it stops or dies, and spreads per-tenant work over every copy "
       "through work queues, on SQLite (one host) or PostgreSQL (many hosts).")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
