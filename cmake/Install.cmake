# Installs the library as a CMake package with one export set per component, so that
# find_package(baton CONFIG COMPONENTS core sqlite) needs neither libpq nor its headers.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(BATON_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/baton)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/baton DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(BATON_COMPONENTS core sqlite postgres)
if(BATON_ETCD)
  list(APPEND BATON_COMPONENTS etcd)
endif()
foreach(component ${BATON_COMPONENTS})
  set(targets baton_${component})
  # The static libraries name their private warning flags target in their link interface.
  if(component STREQUAL "core")
    list(APPEND targets baton_warnings)
  endif()
  install(TARGETS ${targets} EXPORT baton_${component}_targets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT baton_${component}_targets NAMESPACE baton:: DESTINATION ${BATON_CMAKE_DIR}
          FILE baton-${component}-targets.cmake)
endforeach()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/batonConfig.cmake.in
  ${PROJECT_BINARY_DIR}/batonConfig.cmake INSTALL_DESTINATION ${BATON_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/batonConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/batonConfig.cmake ${PROJECT_BINARY_DIR}/batonConfigVersion.cmake
        DESTINATION ${BATON_CMAKE_DIR})

# pkg-config files, one per component like the CMake package (baton-core, baton-sqlite,
# baton-postgres) and baton.pc for all of them, so that core and sqlite need no libpq here
# either.
set(BATON_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH BATON_PC_TO_PREFIX /prefix/${BATON_PKGCONFIG_DIR} /prefix)
string(REGEX REPLACE "/$" "" BATON_PC_TO_PREFIX "${BATON_PC_TO_PREFIX}")
set(BATON_PKGCONFIG_FILES baton baton-core baton-sqlite baton-postgres)
if(BATON_ETCD)
  list(APPEND BATON_PKGCONFIG_FILES baton-etcd)
endif()
foreach(pc ${BATON_PKGCONFIG_FILES})
  configure_file(${PROJECT_SOURCE_DIR}/cmake/pkgconfig/${pc}.pc.in
                 ${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc DESTINATION ${BATON_PKGCONFIG_DIR})
endforeach()

include(${PROJECT_SOURCE_DIR}/cmake/Package.cmake)
