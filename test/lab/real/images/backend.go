// The real-cluster lab's backend: answers every HTTP request with the pod's and the node's name
// (POD_NAME and NODE_NAME from the downward API), so a test sees which pod and node served it.
// Static (CGO_ENABLED=0): the image is `scratch` plus this binary.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("herald-backend 1")
		return
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	answer := fmt.Sprintf("pod=%s node=%s\n", os.Getenv("POD_NAME"), os.Getenv("NODE_NAME"))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, answer)
	})
	// PID 1 in its container: without a handler SIGTERM would be ignored and the pod would wait
	// for its grace period on every delete.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		os.Exit(0)
	}()
	fmt.Printf("backend listening on :%s as %s", port, answer)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
