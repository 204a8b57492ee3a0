// The Kotlin bindings as a Gradle build (not run in CI: `cargo xtask test`
// compiles and tests these sources with kotlinc and the JUnit console).
pluginManagement {
    repositories {
        gradlePluginPortal()
        mavenCentral()
    }
}

dependencyResolutionManagement {
    repositories {
        mavenCentral()
    }
}

rootProject.name = "authstate"
