module atrest.dev/runcwrap

go 1.26.0
