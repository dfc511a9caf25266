# The CMake package: libraries, public headers, the generated version header, the local engine,
# an exported target set (cortex::storage, cortex::pool, cortex::sessions, cortex::metrics) with a
# config and version file, and a pkg-config file.
include(CMakePackageConfigHelpers)

set(CORTEX_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cortex_storage)

install(TARGETS cortex_storage cortex_pool cortex_sessions cortex_metrics cortex_asio
        EXPORT cortex_storageTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(layer storage connection_pool sessions metrics)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${layer}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/include/cortex/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cortex)

# The local engine (mem:// and surrealkv:// endpoints start it): its scripts, its lock file, and
# the npm packages it runs on when they are installed in the source tree (else run `npm ci` there).
set(CORTEX_ENGINE_DIR ${PROJECT_SOURCE_DIR}/tools/surrealdb-local)
set(CORTEX_ENGINE_DEST ${CMAKE_INSTALL_DATADIR}/cortex_storage/surrealdb-local)
install(FILES ${CORTEX_ENGINE_DIR}/server.js ${CORTEX_ENGINE_DIR}/cbor.js ${CORTEX_ENGINE_DIR}/package.json
              ${CORTEX_ENGINE_DIR}/package-lock.json
        DESTINATION ${CORTEX_ENGINE_DEST})
foreach(pkg @surrealdb/node ws)
  install(DIRECTORY ${CORTEX_ENGINE_DIR}/node_modules/${pkg}/ DESTINATION ${CORTEX_ENGINE_DEST}/node_modules/${pkg}
          OPTIONAL USE_SOURCE_PERMISSIONS)
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/cortex_storage)

install(EXPORT cortex_storageTargets NAMESPACE cortex:: DESTINATION ${CORTEX_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cortex_storageConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/cortex_storageConfig.cmake
                              INSTALL_DESTINATION ${CORTEX_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cortex_storageConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cortex_storageConfig.cmake ${PROJECT_BINARY_DIR}/cortex_storageConfigVersion.cmake
        DESTINATION ${CORTEX_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/cortex_storage.pc.in ${PROJECT_BINARY_DIR}/cortex_storage.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cortex_storage.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
