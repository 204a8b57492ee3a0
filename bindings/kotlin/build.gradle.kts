// JVM library: the generated UniFFI sources (`cargo xtask bindings` writes
// them to generated/) plus the idiomatic layer in src/main. For Android, see
// README.md: the same sources go into an Android library module with JNA's
// AAR and the cdylib per ABI under jniLibs/.
plugins {
    kotlin("jvm") version "2.4.20"
}

group = "dev.authstate"
version = "0.1.0"

kotlin {
    jvmToolchain(17)
}

/** Where the generated sources and the host's cdylib are. */
val generated = layout.projectDirectory.dir("generated")

sourceSets {
    main {
        kotlin.srcDir(generated)
    }
}

/** The FFI cost benchmark (src/bench), run by hand with `gradle ffiCost`. */
val bench by sourceSets.creating {
    compileClasspath += sourceSets.main.get().output + sourceSets.test.get().output
    runtimeClasspath += output + compileClasspath
}
configurations[bench.implementationConfigurationName].extendsFrom(configurations.testImplementation.get())
configurations[bench.runtimeOnlyConfigurationName].extendsFrom(configurations.testRuntimeOnly.get())

dependencies {
    // On Android use "net.java.dev.jna:jna:5.13.0@aar" instead: it carries
    // libjnidispatch.so for every ABI.
    implementation("net.java.dev.jna:jna:5.13.0")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")

    testImplementation(platform("org.junit:junit-bom:5.9.2"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

/** The JVM finds the cdylib in generated/, the tests the workspace (for the test provider). */
fun JavaForkOptions.authstateProperties() {
    systemProperty("jna.library.path", generated.asFile.absolutePath)
    systemProperty("authstate.root", rootDir.resolve("../..").canonicalPath)
}

tasks.test {
    useJUnitPlatform()
    authstateProperties()
}

tasks.register<JavaExec>("ffiCost") {
    description = "Measures the FFI's own cost per call (see README.md)."
    classpath = bench.runtimeClasspath
    mainClass.set("dev.authstate.bench.FfiCostKt")
    authstateProperties()
}
